"""Grading-log queries. Keyword-only functions taking a Session."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func
from sqlmodel import Session, col, select

from router.store.grade_models import Grade


def spend_on(*, session: Session, day: date) -> float:
    """Judge and shadow spend logged on ``day`` (UTC), every replica's."""
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    stmt = select(func.sum(col(Grade.judge_cost_usd) + col(Grade.answer_cost_usd))).where(
        col(Grade.created_at) >= start, col(Grade.created_at) < start + timedelta(days=1))
    return float(session.exec(stmt).one() or 0.0)


def counts(*, session: Session, kind: str | None = None) -> dict[tuple[str, str], int]:
    """Grade rows per (kind, status)."""
    stmt = select(col(Grade.kind), col(Grade.status), func.count()).group_by(col(Grade.kind), col(Grade.status))
    if kind is not None:
        stmt = stmt.where(col(Grade.kind) == kind)
    return {(k, s): int(n) for k, s, n in session.exec(stmt)}
