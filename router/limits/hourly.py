"""Per-key hourly quotas (feedback grades: policies ``feedback.max_per_key_per_hour``).

A fixed window per UTC hour: one Redis counter per key and hour (``INCR``, expiring after the
hour) when ``V0_REDIS_URL`` is set, so every replica shares it; else, or while Redis is
unreachable, this replica's own count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from router.limits.base import LimitExceeded
from router.limits.limiter import KeyLimiter, redis_errors

HOUR_S = 3600


class HourlyQuota:
    def __init__(self, limiter: KeyLimiter, what: str, *, clock: Callable[[], float] = time.time) -> None:
        self._limiter, self._what, self._clock = limiter, what, clock
        self._local: dict[tuple[str, int], int] = {}

    async def take(self, bucket: str, per_hour: int | None) -> None:
        """Count one for ``bucket`` this hour, or raise :class:`LimitExceeded` past ``per_hour``."""
        if per_hour is None:
            return
        now = self._clock()
        hour = int(now // HOUR_S)
        count = await self._shared(bucket, hour)
        if count is None:
            self._local = {k: v for k, v in self._local.items() if k[1] == hour}
            count = self._local[(bucket, hour)] = self._local.get((bucket, hour), 0) + 1
        if count > per_hour:
            raise LimitExceeded("rate_limit_exceeded", self._what,
                                f"Rate limit reached for this key: {per_hour} {self._what} per hour.",
                                max(1, math.ceil((hour + 1) * HOUR_S - now)))

    async def _shared(self, bucket: str, hour: int) -> int | None:
        limiter = self._limiter
        if limiter.shared is None or limiter.backend != "redis":
            return None
        key = f"v0:{limiter.shared.namespace}:{self._what}:{{{bucket}}}:{hour}"
        try:
            pipe = limiter.shared.client.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, HOUR_S + 60)
            count, _ = await pipe.execute()
            return int(count)
        except (OSError, TimeoutError) + redis_errors() as exc:
            limiter.shared_failed(exc)
            return None
