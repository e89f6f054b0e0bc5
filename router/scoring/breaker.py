"""A circuit breaker for the scorer: after ``failures`` consecutive failures or timeouts, scoring is
skipped for ``cooldown_s`` seconds (requests go to their policy's fallback, visibly); then one trial
request is scored again ("half open"): success closes the breaker, failure opens it again.
Pure state and a clock; thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, *, failures: int = 5, cooldown_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit, self._cooldown, self._clock = failures, cooldown_s, clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial is in flight
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """May this request be scored? (False: the breaker is open.)"""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._trial or self._clock() - self._opened_at < self._cooldown:
                return False
            self._trial = True  # half open: let one request through
            return True

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self._limit:
                self._opened_at, self._trial = self._clock(), False

    @property
    def open(self) -> bool:
        with self._lock:
            return self._opened_at is not None
