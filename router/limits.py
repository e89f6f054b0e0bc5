"""Per-key rate limits and budgets, shared by replicas through the decision log.

Each replica's poll loop (``refresh``, every ``V0_PROFILE_POLL_S``) reads, for every key with a
limit, the last minute's requests and tokens and the spend of its budget period from the
``decision`` table, which every replica writes. Between two reads a replica adds what it admitted
and completed itself. So a limit holds across replicas up to what the other replicas admitted
since the last read and has not been written yet: about one poll interval plus the writer's flush
interval of traffic. Requests are counted when admitted; tokens and cost when the answer ends
(streams included), from the logged usage and cost.

Past ``rpm`` or ``tpm``: :class:`LimitExceeded` ``rate_limit_exceeded`` with the seconds until
the minute's oldest request leaves the window; past ``max_budget_usd``: ``insufficient_quota``
(OpenAI's codes, so SDKs raise ``RateLimitError``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from router.store import key_crud, usage_crud

WINDOW_S = 60.0


class LimitExceeded(Exception):
    def __init__(self, code: str, kind: str, message: str, retry_after_s: int | None) -> None:
        super().__init__(message)
        self.code, self.kind, self.retry_after_s = code, kind, retry_after_s


@dataclass(frozen=True)
class Limits:
    rpm: int | None
    tpm: int | None
    max_budget_usd: float | None
    budget_period: str | None


@dataclass
class _Usage:
    """What the database said at the last read, plus this replica's events since."""

    requests: int = 0
    tokens: int = 0
    spend: float = 0.0
    oldest: float | None = None  # epoch seconds of the oldest request in the window
    events: list[tuple[float, int, int, float]] = field(default_factory=list)  # (t, requests, tokens, usd)


def period_start(period: str | None, now: datetime) -> datetime:
    """The current budget period's start (UTC calendar periods; none: the beginning of time)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return datetime(1970, 1, 1, tzinfo=UTC)


class KeyLimiter:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine, self._clock = engine, clock
        self._limits: dict[int, Limits] = {}
        self._usage: dict[int, _Usage] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the limits and the shared usage (database work: the poll loop's thread)."""
        now = self._clock()
        stamp = datetime.fromtimestamp(now, UTC)
        with Session(self._engine) as session:
            limits = {k.id: Limits(k.rpm, k.tpm, k.max_budget_usd, k.budget_period)
                      for k in key_crud.limited_keys(session=session) if k.id is not None}
            minute = usage_crud.minute_usage(session=session, key_ids=list(limits),
                                             since=stamp - timedelta(seconds=WINDOW_S))
            spent = usage_crud.spend(session=session, since={k: period_start(lim.budget_period, stamp)
                                                             for k, lim in limits.items()})
        with self._lock:
            usage = {}
            for key in limits:
                m = minute.get(key)
                local = [e for e in self._usage.get(key, _Usage()).events if e[0] >= now]
                usage[key] = _Usage(m.requests if m else 0, m.tokens if m else 0, spent[key],
                                    m.oldest.timestamp() if m else None, local)
            self._limits, self._usage = limits, usage

    def admit(self, key_id: int | None) -> None:
        """Count one request for ``key_id``, or raise :class:`LimitExceeded` (nothing counted)."""
        if key_id is None or key_id not in self._limits:
            return
        now = self._clock()
        with self._lock:
            lim, use = self._limits[key_id], self._usage[key_id]
            recent = [e for e in use.events if e[0] > now - WINDOW_S]
            if lim.max_budget_usd is not None:
                spend = use.spend + sum(e[3] for e in use.events)
                if spend >= lim.max_budget_usd:
                    raise LimitExceeded("insufficient_quota", "insufficient_quota",
                                        f"This key's budget is spent: {spend:.6f} of {lim.max_budget_usd:g} USD "
                                        f"({lim.budget_period or 'lifetime'}).", None)
            oldest = min([t for t, *_ in recent] + ([use.oldest] if use.oldest is not None else []), default=now)
            retry = max(1, math.ceil(oldest + WINDOW_S - now))
            if lim.rpm is not None and use.requests + sum(e[1] for e in recent) >= lim.rpm:
                raise LimitExceeded("rate_limit_exceeded", "requests",
                                    f"Rate limit reached for this key: {lim.rpm} requests per minute.", retry)
            if lim.tpm is not None and use.tokens + sum(e[2] for e in recent) >= lim.tpm:
                raise LimitExceeded("rate_limit_exceeded", "tokens",
                                    f"Rate limit reached for this key: {lim.tpm} tokens per minute.", retry)
            use.events.append((now, 1, 0, 0.0))

    def record(self, key_id: int | None, tokens: int, cost_usd: float) -> None:
        """An answer ended: its tokens and cost count against the key until the next read."""
        if key_id is None or key_id not in self._limits:
            return
        with self._lock:
            use = self._usage.get(key_id)
            if use is not None:
                use.events.append((self._clock(), 0, tokens, cost_usd))
