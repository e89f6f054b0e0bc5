"""Queries. Keyword-only functions taking a Session."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from router.store.models import Decision, DecisionCreate, utcnow


def create_decisions(*, session: Session, decisions: Sequence[DecisionCreate]) -> None:
    session.add_all(Decision.model_validate(d) for d in decisions)
    session.commit()


def get_decision(*, session: Session, decision_id: str) -> Decision | None:
    return session.get(Decision, decision_id)


def set_feedback(*, session: Session, decision: Decision, score: float) -> None:
    """Record the feedback score on the decision row (the caller commits)."""
    decision.feedback_score, decision.feedback_at = score, utcnow()
    session.add(decision)
