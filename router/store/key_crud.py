"""Client-key queries. Keyword-only functions taking a Session."""

from __future__ import annotations

from sqlmodel import Session, col, select

from router.store.key_models import ClientKey
from router.store.models import utcnow


def create_key(*, session: Session, name: str, prefix: str, key_hash: str, **limits: object) -> ClientKey:
    key = ClientKey(name=name, prefix=prefix, key_hash=key_hash, **limits)
    session.add(key)
    session.commit()
    session.refresh(key)
    return key


def list_keys(*, session: Session) -> list[ClientKey]:
    return list(session.exec(select(ClientKey).order_by(col(ClientKey.id))))


def get_key(*, session: Session, key_id: int) -> ClientKey | None:
    return session.get(ClientKey, key_id)


def revoke_key(*, session: Session, key_id: int) -> ClientKey | None:
    """Mark the key revoked (the row stays); None when there is no such key."""
    key = session.get(ClientKey, key_id)
    if key is not None and not key.revoked:
        key.revoked, key.revoked_at = True, utcnow()
        session.add(key)
        session.commit()
        session.refresh(key)
    return key


def key_table(*, session: Session) -> tuple[dict[str, int], int]:
    """(active key hash -> key id, number of keys ever created, revoked included)."""
    rows = session.exec(select(ClientKey.key_hash, ClientKey.id, ClientKey.revoked)).all()
    return {h: i for h, i, revoked in rows if not revoked}, len(rows)


def update_key(*, session: Session, key_id: int, changes: dict[str, object]) -> ClientKey | None:
    """Set the given fields (limits, name); None when there is no such key."""
    key = session.get(ClientKey, key_id)
    if key is None:
        return None
    for name, value in changes.items():
        setattr(key, name, value)
    session.add(key)
    session.commit()
    session.refresh(key)
    return key


def limited_keys(*, session: Session) -> list[ClientKey]:
    """Active keys with at least one limit."""
    stmt = select(ClientKey).where(col(ClientKey.revoked).is_(False),
                                   col(ClientKey.rpm).is_not(None) | col(ClientKey.tpm).is_not(None) |
                                   col(ClientKey.max_budget_usd).is_not(None))
    return list(session.exec(stmt))
