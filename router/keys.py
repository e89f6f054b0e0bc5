"""Client API keys: generation, hashing, and the in-memory table every request checks.

Keys look like ``v0-<43 url-safe chars>``; only their sha256 is stored. :class:`KeyTable` is
refreshed from the database by the replica's poll loop and right after a local change, so a
key created or revoked on one replica takes effect on the others within the poll interval.
Authentication is required when ``V0_CLIENT_KEYS`` is set or any key was ever created. Until
the table has been read once (the database was unreachable since the start), only
``V0_CLIENT_KEYS`` keys are accepted, and without them requests get 503: it fails closed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from router.store import key_crud

KEY_PREFIX = "v0-"
SHOWN_PREFIX = 10  # characters of a key kept in clear (its "prefix") to recognise it


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeysUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Identity:
    """Who made a request: a database key (``key_id``), a V0_CLIENT_KEYS key, or anyone."""

    key_id: int | None = None
    kind: str = "anonymous"  # "anonymous" | "env" | "db"


class KeyTable:
    def __init__(self, engine: Engine, env_keys: frozenset[str] = frozenset()) -> None:
        self.engine = engine
        self._env_hashes = frozenset(hash_key(k) for k in env_keys)
        self._active: dict[str, int] = {}
        self._ever = 0
        self.loaded = False

    def refresh(self) -> None:
        with Session(self.engine) as session:
            self._active, self._ever = key_crud.key_table(session=session)
        self.loaded = True

    @property
    def required(self) -> bool:
        return bool(self._env_hashes) or self._ever > 0

    def identify(self, token: str | None) -> Identity | None:
        """The caller for a bearer token; None when authentication fails.
        Raises KeysUnavailable before the key table was ever read (and no V0_CLIENT_KEYS)."""
        if not self.loaded and not self._env_hashes:
            raise KeysUnavailable("client keys not loaded yet: the database has not answered since the start")
        if not self.required:
            return Identity()
        if not token:
            return None
        digest = hash_key(token)
        key_id = self._active.get(digest)
        if key_id is not None:
            return Identity(key_id=key_id, kind="db")
        if any(hmac.compare_digest(digest, h) for h in self._env_hashes):
            return Identity(kind="env")
        if not self.loaded:  # may be a key created through the admin API: cannot tell yet
            raise KeysUnavailable("client keys not loaded yet: the database has not answered since the start")
        return None
