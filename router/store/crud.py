"""Queries. Keyword-only functions taking a Session."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from router.store.models import Decision, DecisionCreate


def create_decisions(*, session: Session, decisions: Sequence[DecisionCreate]) -> None:
    session.add_all(Decision.model_validate(d) for d in decisions)
    session.commit()


def get_decision(*, session: Session, decision_id: str) -> Decision | None:
    return session.get(Decision, decision_id)


def list_decisions(*, session: Session, limit: int = 100) -> list[Decision]:
    stmt = select(Decision).order_by(col(Decision.created_at).desc()).limit(limit)
    return list(session.exec(stmt))


def count_decisions(*, session: Session) -> int:
    return len(session.exec(select(Decision.id)).all())
