"""What the limits share: a key's limits, a request's hold on them, the refusal, the budget period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WINDOW_S = 60.0


class LimitExceeded(Exception):
    """``code``: OpenAI's ``rate_limit_exceeded`` or ``insufficient_quota``; ``kind``: the error type
    (``requests``, ``tokens``, ``insufficient_quota``)."""

    def __init__(self, code: str, kind: str, message: str, retry_after_s: int | None) -> None:
        super().__init__(message)
        self.code, self.kind, self.retry_after_s = code, kind, retry_after_s


@dataclass(frozen=True)
class Limits:
    rpm: int | None
    tpm: int | None
    max_budget_usd: float | None
    budget_period: str | None


@dataclass(frozen=True)
class Ask:
    """What one request may use, held at admission: tokens (prompt + expected output) for tpm,
    and its worst-case cost (USD) reserved against the budget."""

    tokens: int = 0
    usd: float = 0.0


@dataclass(frozen=True)
class Hold:
    """One admitted request's hold: settled once with what it really used."""

    key_id: int
    rid: str
    ask: Ask
    shared: bool  # held in Redis (else in this replica's counters)
    period: datetime  # the budget period it was admitted in


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


def period_end(period: str | None, start: datetime) -> datetime | None:
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    if period == "monthly":
        return (start + timedelta(days=32)).replace(day=1)
    return None


def refusal(lim: Limits, *, requests: int, tokens: int, spend: float, oldest: float | None,
            now: float) -> LimitExceeded | None:
    """Why one more request is refused given what is counted (None: admitted). A budget admits
    while spend (settled + reserved) is below it; rpm while fewer than ``rpm`` requests are in the
    window; tpm while the window's tokens are below ``tpm``."""
    if lim.max_budget_usd is not None and spend >= lim.max_budget_usd:
        return LimitExceeded("insufficient_quota", "insufficient_quota",
                             f"This key's budget is spent: {spend:.6f} of {lim.max_budget_usd:g} USD "
                             f"({lim.budget_period or 'lifetime'}, in-flight reservations included).", None)
    retry = max(1, int(-(-((oldest if oldest is not None else now) + WINDOW_S - now) // 1)))
    if lim.rpm is not None and requests >= lim.rpm:
        return LimitExceeded("rate_limit_exceeded", "requests",
                             f"Rate limit reached for this key: {lim.rpm} requests per minute.", retry)
    if lim.tpm is not None and tokens >= lim.tpm:
        return LimitExceeded("rate_limit_exceeded", "tokens",
                             f"Rate limit reached for this key: {lim.tpm} tokens per minute.", retry)
    return None
