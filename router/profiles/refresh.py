"""Profile state rebuilds at the rate grades arrive, not once per grade.

:class:`ProfileRefresh` wraps the scorer's refresh (which rebuilds every state whose version
changed). A grade asks for a refresh; refreshes run one at a time and start at most once per
``interval_s``, and at least ``DUTY`` times the last refresh's duration apart, so a burst of N
grades (feedback, judge, shadow) costs one rebuild per changed model per interval instead of N,
and rebuilding never takes more than 1 / ``DUTY`` of the time. Asks that arrive while a refresh is waiting or running join the
next one:

- ``soon()`` asks and returns at once (judge and shadow grades, off the request path);
- ``wait()`` asks and returns when a refresh that started after the ask has finished, so the
  caller reads its own write (``POST /v1/feedback``);
- ``now()`` refreshes at once, outside the interval (uploads and deletes: an operator's change).

A failed refresh is logged and counted; the poll loop (``V0_PROFILE_POLL_S``) retries anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

DUTY = 4  # a coalesced refresh starts at least DUTY x the last one's duration after it started


class ProfileRefresh:
    def __init__(self, refresh: Callable[[], Awaitable[object]], *, interval_s: float) -> None:
        self._refresh = refresh
        self.interval_s = interval_s
        self._last_start = float("-inf")  # time.monotonic() of the last refresh's start
        self._next: asyncio.Future[None] | None = None  # the refresh the next ask joins
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # refreshes run (coalesced ones and ``now``)
        self.asks = 0  # refreshes asked for
        self.failures = 0
        self.last_seconds = 0.0  # how long the last coalesced refresh took

    def soon(self) -> None:
        """Ask for a refresh; returns at once."""
        self._ask()

    async def wait(self) -> None:
        """Ask for a refresh and wait until one that started after this call has finished
        (a failed refresh also ends the wait: the poll loop retries)."""
        await asyncio.shield(self._ask())

    async def now(self) -> None:
        """Refresh at once (an operator's change); raises what the refresh raises."""
        self._last_start = time.monotonic()
        self.runs += 1
        await self._refresh()

    async def close(self) -> None:
        """Stop the pending refresh, if any (shutdown)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._next is not None and not self._next.done():
            self._next.set_result(None)

    def _ask(self) -> asyncio.Future[None]:
        self.asks += 1
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run(), name="profile-refresh")
        return self._next

    async def _run(self) -> None:
        while self._next is not None:
            # At most one refresh per interval, and never more than 1 / DUTY of the time: a
            # rebuild that takes long (large windows, a busy machine) spaces the next one out,
            # so a burst of grades cannot keep the interpreter busy rebuilding.
            spacing = max(self.interval_s, DUTY * self.last_seconds)
            delay = self._last_start + spacing - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            done, self._next = self._next, None  # asks from here on join the following refresh
            self._last_start = time.monotonic()
            self.runs += 1
            try:
                await self._refresh()
            except Exception as exc:  # the database is away, say: the poll loop tries again
                self.failures += 1
                log.warning("profile refresh failed: %s", exc)
            finally:
                self.last_seconds = time.monotonic() - self._last_start
                if not done.done():
                    done.set_result(None)
