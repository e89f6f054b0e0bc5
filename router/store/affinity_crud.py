"""Conversation affinity read back from the decision log: the model that last answered a
conversation (router/serving/affinity.py). Keyword-only functions taking a Session."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from router.store.models import Decision


def last_answer(*, session: Session, key: str, since: datetime) -> str | None:
    """The candidate that answered the conversation ``key``'s latest answered turn since ``since``."""
    stmt = (select(Decision.answered_model)
            .where(col(Decision.conversation_key) == key, col(Decision.created_at) >= since,
                   col(Decision.status) == "ok", col(Decision.answered_model).is_not(None))
            .order_by(col(Decision.created_at).desc()).limit(1))
    return session.exec(stmt).first()
