"""Client API keys, created through the admin API. Only the sha256 of a key is stored.

A key may carry limits (all optional): ``rpm`` requests and ``tpm`` tokens (prompt + completion)
per minute, and ``max_budget_usd`` of logged spend per ``budget_period`` (``daily``, ``weekly``,
``monthly``, calendar periods in UTC; none: the key's whole life)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict
from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from router.store.models import utcnow


BudgetPeriod = Literal["daily", "weekly", "monthly"]


class ClientKeyBase(SQLModel):
    name: str = Field(min_length=1, max_length=128)
    rpm: int | None = Field(default=None, ge=1, le=2**31 - 1)
    tpm: int | None = Field(default=None, ge=1, le=2**31 - 1)
    max_budget_usd: float | None = Field(default=None, ge=0, le=1e12)
    budget_period: str | None = Field(default=None, max_length=16)


class ClientKeyCreate(ClientKeyBase):
    model_config = ConfigDict(extra="forbid")
    budget_period: BudgetPeriod | None = None


class ClientKeyUpdate(SQLModel):
    """PATCH body: the fields given are set (null removes a limit); the others are kept."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=128)
    rpm: int | None = Field(default=None, ge=1, le=2**31 - 1)
    tpm: int | None = Field(default=None, ge=1, le=2**31 - 1)
    max_budget_usd: float | None = Field(default=None, ge=0, le=1e12)
    budget_period: BudgetPeriod | None = None


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
    spend_usd: float = 0.0  # logged cost of the key's requests in its current budget period


class ClientKeyCreated(ClientKeyPublic):
    key: str  # the plaintext key: returned once, at creation, never stored
