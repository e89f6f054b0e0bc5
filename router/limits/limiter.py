"""Per-key rate limits and budgets, counted at admission: :class:`KeyLimiter`.

``admit`` counts a request before any work: one request (rpm), its token estimate (tpm: prompt
tokens plus ``max_tokens``, else the policy's expected output) and a reservation of its worst-case
cost against the budget; ``settle`` replaces the estimate and the reservation with what the request
really used, once, when it ends. The counters are Redis's when ``V0_REDIS_URL`` is set (shared by
every replica, exact: ``router/limits/shared.py``), else this replica's (``router/limits/local.py``).
When Redis cannot be reached the replica keeps serving on its local counters, says so in /readyz
and /metrics, and tries Redis again after ``retry_s``.

Past ``rpm`` or ``tpm``: :class:`LimitExceeded` ``rate_limit_exceeded`` with the seconds until
the minute's oldest request leaves the window; past ``max_budget_usd`` (settled spend plus the
reservations in flight): ``insufficient_quota`` (OpenAI's codes, so SDKs raise ``RateLimitError``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from router.limits.base import WINDOW_S, Ask, Hold, Limits, period_end, period_start
from router.limits.local import LocalCounters
from router.store import key_crud, usage_crud

log = logging.getLogger(__name__)


class KeyLimiter:
    def __init__(self, engine: Engine, *, redis_url: str | None = None, namespace: str = "default",
                 redis_timeout_s: float = 0.25,
                 reservation_ttl_s: float = 900.0, retry_s: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine, self._clock, self._retry_s = engine, clock, retry_s
        self._limits: dict[int, Limits] = {}
        self._spent: dict[int, float] = {}  # the decision log's spend of each key's period (last read)
        self.local = LocalCounters()
        self.shared = None
        if redis_url:
            from router.limits.shared import SharedCounters

            self.shared = SharedCounters(redis_url, namespace=namespace, timeout_s=redis_timeout_s,
                                         reservation_ttl_s=reservation_ttl_s)
        self._down_until = 0.0
        self.shared_failures = 0  # Redis calls that failed (admissions then went to local counters)
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def backend(self) -> str:
        """``redis``, ``local`` (no Redis configured) or ``local-fallback`` (Redis unreachable)."""
        if self.shared is None:
            return "local"
        return "local-fallback" if self._down_until > self._clock() else "redis"

    def limited(self, key_id: int | None) -> bool:
        return key_id is not None and key_id in self._limits

    def refresh(self) -> None:
        """Read the limits and the logged usage (database work: the poll loop's thread)."""
        now = self._clock()
        stamp = datetime.fromtimestamp(now, UTC)
        with Session(self._engine) as session:
            seen = usage_crud.written(session=session, decision_ids=self.local.unseen())  # before the sums
            limits = {k.id: Limits(k.rpm, k.tpm, k.max_budget_usd, k.budget_period)
                      for k in key_crud.limited_keys(session=session) if k.id is not None}
            minute = usage_crud.minute_usage(session=session, key_ids=list(limits),
                                             since=stamp - timedelta(seconds=WINDOW_S))
            spent = usage_crud.spend(session=session, since={k: period_start(lim.budget_period, stamp)
                                                             for k, lim in limits.items()})
        read = {}
        for key in limits:
            m = minute.get(key)
            read[key] = (m.requests if m else 0, m.tokens if m else 0, spent[key],
                         m.oldest.timestamp() if m else None)
        self.local.load(read, seen=seen, now=now)
        self._limits, self._spent = limits, spent

    async def admit(self, key_id: int | None, ask: Ask = Ask()) -> Hold | None:
        """Count one request for ``key_id`` holding ``ask``, or raise :class:`LimitExceeded`
        (nothing counted). None: the key has no limits."""
        if key_id is None or key_id not in self._limits:
            return None
        lim, now = self._limits[key_id], self._clock()
        rid = uuid.uuid4().hex
        period = period_start(lim.budget_period, datetime.fromtimestamp(now, UTC))
        if self.shared is not None and now >= self._down_until:
            try:
                await self.shared.admit(key_id, lim, rid, ask, period=period, period_ttl=_ttl(lim, period, now),
                                        spend_seed=self._spent.get(key_id, 0.0))
                return Hold(key_id, rid, ask, True, period)
            except (OSError, TimeoutError) + redis_errors() as exc:
                self.shared_failed(exc)
        self.local.admit(key_id, lim, rid, ask, now)
        return Hold(key_id, rid, ask, False, period)

    def settle(self, hold: Hold | None, *, tokens: int, usd: float, row: str | None = None) -> None:
        """The request ended having used ``tokens`` and ``usd`` (its decision row ``row``, if it
        has one): they replace its estimate and reservation (in Redis: a task of its own, so it
        runs to the end even if the caller is done)."""
        if hold is None:
            return
        lim = self._limits.get(hold.key_id)
        if not hold.shared:
            self.local.settle(hold.key_id, hold.rid, tokens, usd, self._clock(), row)
            return
        task = asyncio.get_running_loop().create_task(self._settle_shared(hold, tokens, usd, lim))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _settle_shared(self, hold: Hold, tokens: int, usd: float, lim: Limits | None) -> None:
        assert self.shared is not None
        try:
            await self.shared.settle(hold.key_id, hold.rid, tokens, usd, period=hold.period,
                                     period_ttl=_ttl(lim, hold.period, self._clock()) if lim else 0)
        except (OSError, TimeoutError) + redis_errors() as exc:  # the reservation expires by itself
            self.shared_failed(exc)

    def shared_failed(self, exc: BaseException) -> None:
        self.shared_failures += 1
        if self._down_until <= self._clock():
            log.warning("Redis unreachable for limits (%s); counting on this replica for %gs", exc, self._retry_s)
        self._down_until = self._clock() + self._retry_s

    async def check_shared(self) -> None:
        """Poll loop: once Redis answers again, admissions go back to it."""
        if self.shared is None or self._down_until <= self._clock():
            return
        try:
            await self.shared.ping()
        except (OSError, TimeoutError) + redis_errors():
            self._down_until = self._clock() + self._retry_s
            return
        self._down_until = 0.0
        log.warning("Redis reachable again: limits are shared")

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=2)
        if self.shared is not None:
            await self.shared.close()


def _ttl(lim: Limits, period: datetime, now: float) -> int:
    """Seconds Redis keeps a period's spend: to the period's end and a day more (0: forever)."""
    end = period_end(lim.budget_period, period)
    return 0 if end is None else int(end.timestamp() - now) + 86_400


def redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError,)
