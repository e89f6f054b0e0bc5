"""Per-key usage read back from the decision log: the last minute's requests and tokens, and the
logged spend since a period start. Keyword-only functions taking a Session."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from router.store.models import Decision


@dataclass(frozen=True)
class MinuteUsage:
    requests: int
    tokens: int  # prompt + completion
    oldest: datetime  # the oldest of those requests' rows (UTC)


def minute_usage(*, session: Session, key_ids: Collection[int], since: datetime) -> dict[int, MinuteUsage]:
    if not key_ids:
        return {}
    tokens = func.coalesce(func.sum(func.coalesce(Decision.prompt_tokens, 0) +
                                    func.coalesce(Decision.completion_tokens, 0)), 0)
    stmt = (select(Decision.client_key_id, func.count(), tokens, func.min(Decision.created_at))
            .where(col(Decision.client_key_id).in_(list(key_ids)), col(Decision.created_at) >= since)
            .group_by(Decision.client_key_id))
    return {key: MinuteUsage(int(n), int(t), _utc(oldest)) for key, n, t, oldest in session.exec(stmt)}


def spend(*, session: Session, since: Mapping[int, datetime]) -> dict[int, float]:
    """Logged cost (USD) of each key's requests since its own start time."""
    out: dict[int, float] = {}
    by_start: dict[datetime, list[int]] = {}
    for key, start in since.items():
        by_start.setdefault(start, []).append(key)
    for start, keys in by_start.items():
        stmt = (select(Decision.client_key_id, func.coalesce(func.sum(Decision.cost_usd), 0.0))
                .where(col(Decision.client_key_id).in_(keys), col(Decision.created_at) >= start)
                .group_by(Decision.client_key_id))
        out.update({key: float(total) for key, total in session.exec(stmt)})
    return {key: out.get(key, 0.0) for key in since}


def written(*, session: Session, decision_ids: Collection[str]) -> set[str]:
    """Which of ``decision_ids`` have their row in the log."""
    ids, found = list(decision_ids), set()
    for i in range(0, len(ids), 500):
        found.update(session.exec(select(Decision.id).where(col(Decision.id).in_(ids[i:i + 500]))))
    return found


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
