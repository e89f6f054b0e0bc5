"""Client API keys, created through the admin API. Only the sha256 of a key is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from router.store.models import utcnow


class ClientKeyBase(SQLModel):
    name: str = Field(min_length=1, max_length=128)


class ClientKeyCreate(ClientKeyBase):
    pass


class ClientKey(ClientKeyBase, table=True):
    __tablename__ = "client_key"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16)  # first characters of the key, to recognise it in lists
    key_hash: str = Field(max_length=64, unique=True, index=True)  # sha256 hex of the whole key
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked: bool = False
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class ClientKeyPublic(ClientKeyBase):
    id: int
    prefix: str
    created_at: datetime
    revoked: bool
    revoked_at: datetime | None = None


class ClientKeyCreated(ClientKeyPublic):
    key: str  # the plaintext key: returned once, at creation, never stored
