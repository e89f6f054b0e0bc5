"""Queries. Keyword-only functions taking a Session."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from router.store.models import Decision, DecisionCreate, utcnow


def create_decisions(*, session: Session, decisions: Sequence[DecisionCreate]) -> None:
    """Insert the rows; an id already stored is skipped (idempotent: spool replay)."""
    if not decisions:
        return
    rows = [Decision.model_validate(d).model_dump() for d in decisions]
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = make(Decision).on_conflict_do_nothing(index_elements=["id"])
    else:
        stmt = insert(Decision)
    session.execute(stmt, rows)
    session.commit()


def get_decision(*, session: Session, decision_id: str) -> Decision | None:
    return session.get(Decision, decision_id)


def set_feedback(*, session: Session, decision: Decision, score: float) -> None:
    """Record the feedback score on the decision row (the caller commits)."""
    decision.feedback_score, decision.feedback_at = score, utcnow()
    session.add(decision)
