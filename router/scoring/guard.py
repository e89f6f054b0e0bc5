"""Scoring with a time limit, a circuit breaker and a bounded queue, so that a slow or failing
scorer never holds up requests: a request whose scores are not back within ``timeout_s``, or that
finds the breaker open or ``max_waiting`` requests already waiting for scores, is routed
without scores (its policy's fallback) and says why: ``scorer_timeout``, ``scorer_error``,
``scorer_circuit_open``, ``scorer_overloaded`` (the decision row's reason and the
``x-v0-fallback-reason`` header). Requests already decided never wait for scoring: it runs on the
batcher's own thread (``router/scoring/batcher.py``), off the event loop. A request that gives up
waiting before its batch starts is taken out of the queue, so a backlog is not scored in vain."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from router.scoring.batcher import ScoreBatcher
from router.scoring.breaker import CircuitBreaker

log = logging.getLogger(__name__)


class RecentChoices:
    """Each policy's last ``size`` scored choices: where a request goes when the queue is full and
    its policy names no ``overload_fallback`` (the most frequent recent choice; ties: the first
    in ``order``, the cheaper when ``order`` is by price)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._seen: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self.shed: dict[tuple[str, str], int] = {}  # (policy, candidate) -> requests shed to it

    def record(self, policy: str, chosen: str) -> None:
        with self._lock:
            self._seen.setdefault(policy, deque(maxlen=self._size)).append(chosen)

    def most_chosen(self, policy: str, order: Sequence[str]) -> str | None:
        with self._lock:
            counts = Counter(self._seen.get(policy, ()))
        if not counts:
            return None
        return max((c for c in order if c in counts), key=lambda c: counts[c], default=None)

    def count_shed(self, policy: str, chosen: str) -> None:
        with self._lock:
            self.shed[(policy, chosen)] = self.shed.get((policy, chosen), 0) + 1


class ScorerFailed(Exception):
    """The scorer itself raised (as opposed to a bug elsewhere in planning, which is a 500)."""


class ScoringGuard:
    def __init__(self, batcher: ScoreBatcher, *, timeout_s: float, max_waiting: int,
                 breaker: CircuitBreaker) -> None:
        self._batcher, self.timeout_s, self._max_waiting, self.breaker = batcher, timeout_s, max_waiting, breaker
        self.waiting = 0  # queued or being scored, timed-out ones included until their batch ends
        self.recent = RecentChoices()
        self._lock = threading.Lock()  # the batch thread ends futures too

    async def run(self, item: Any) -> tuple[Any, str | None]:
        """(the batch function's result for ``item``, None), or (None, reason) when the request
        must go without scores."""
        if self.waiting >= self._max_waiting:
            return None, "scorer_overloaded"
        if not self.breaker.allow():
            return None, "scorer_circuit_open"
        with self._lock:
            self.waiting += 1
        try:
            future = self._batcher.submit(item)
        except RuntimeError:  # closed: the app is stopping
            with self._lock:
                self.waiting -= 1
            raise
        future.add_done_callback(self._done)
        try:  # on timeout the wrapper is cancelled, and with it the request's place in the queue
            result = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except TimeoutError:
            self.breaker.failure()
            return None, "scorer_timeout"
        except ScorerFailed as exc:
            self.breaker.failure()
            log.error("scorer failed; routing without scores", exc_info=exc.__cause__ or exc)
            return None, "scorer_error"
        self.breaker.success()
        return result, None

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self.waiting -= 1
        if not future.cancelled():
            future.exception()  # retrieved: a late failure after a timeout is not "never retrieved"
