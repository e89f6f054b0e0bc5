"""Scoring with a time limit, a circuit breaker and a bounded queue, so that a slow or failing
scorer never holds up requests: a request whose scores are not back within ``timeout_s``, or that
finds the breaker open or ``max_waiting`` requests already waiting for the scoring pool, is routed
without scores (its policy's fallback) and says why: ``scorer_timeout``, ``scorer_error``,
``scorer_circuit_open``, ``scorer_overloaded`` (the decision row's reason and the
``x-v0-fallback-reason`` header). Requests already decided never wait for scoring: it runs on its
own pool, off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from router.scoring.breaker import CircuitBreaker

log = logging.getLogger(__name__)
T = TypeVar("T")


class ScorerFailed(Exception):
    """The scorer itself raised (as opposed to a bug elsewhere in planning, which is a 500)."""


class ScoringGuard:
    def __init__(self, pool: Executor | None, *, timeout_s: float, max_waiting: int,
                 breaker: CircuitBreaker) -> None:
        self._pool, self._timeout, self._max_waiting, self.breaker = pool, timeout_s, max_waiting, breaker
        self.waiting = 0  # queued or running on the pool, timed-out calls included until they end

    async def run(self, fn: Callable[..., T], *args: Any) -> tuple[T | None, str | None]:
        """(result, None), or (None, reason) when the request must go without scores."""
        if self.waiting >= self._max_waiting:
            return None, "scorer_overloaded"
        if not self.breaker.allow():
            return None, "scorer_circuit_open"
        self.waiting += 1
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        future.add_done_callback(self._done)
        try:
            result = await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except TimeoutError:
            self.breaker.failure()
            return None, "scorer_timeout"
        except ScorerFailed as exc:
            self.breaker.failure()
            log.error("scorer failed; routing without scores", exc_info=exc.__cause__ or exc)
            return None, "scorer_error"
        self.breaker.success()
        return result, None

    def _done(self, future: asyncio.Future[Any]) -> None:
        self.waiting -= 1
        if not future.cancelled():
            future.exception()  # retrieved: a late failure after a timeout is not "never retrieved"
