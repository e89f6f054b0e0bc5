"""Profile tables: graded prompts per candidate model, a version per model, and gateway metadata.

A model's profile is its rows; the *active* profile is the most recent ``profile_size`` rows
(by insertion order), uploads and feedback alike. Every change to a model's rows bumps its
``ProfileVersion`` in the same transaction; scorers (every replica) watch those versions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, LargeBinary, Text
from sqlmodel import Field, SQLModel

from router.store.models import utcnow

class ProfileRowBase(SQLModel):
    model: str = Field(max_length=256, index=True)  # candidate name in policies.yaml
    prompt: str = Field(sa_column=Column(Text, nullable=False))  # the routing text that was graded
    score: float = Field(ge=0, le=1)  # graded outcome in [0, 1]
    source: str = Field(default="upload", max_length=16)  # upload | feedback | judge | shadow | build


class ProfileRowCreate(ProfileRowBase):
    decision_id: str | None = Field(default=None, max_length=32)  # feedback and judge rows only


class ProfileRow(ProfileRowBase, table=True):
    __tablename__ = "profile_row"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(DateTime(timezone=True), nullable=False))
    # Set on feedback rows: one row per graded decision, so grading twice updates it.
    decision_id: str | None = Field(default=None, max_length=32, unique=True, index=True)


class ProfileRowPublic(ProfileRowBase):
    id: int
    created_at: datetime
    decision_id: str | None = None


class ProfileVersionBase(SQLModel):
    version: int = 0  # increases on every change to the model's rows
    updated_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(DateTime(timezone=True), nullable=False))


class ProfileVersion(ProfileVersionBase, table=True):
    __tablename__ = "profile_version"
    model: str = Field(primary_key=True, max_length=256)


class ProfileSummary(SQLModel):
    """One model in GET /admin/profiles."""

    model: str
    rows: int  # all stored rows
    active_rows: int  # rows in the active window (the largest profile_size among its policies)
    version: int
    mean_score: float | None  # over the active window
    last_update: datetime | None
    uploads: int
    feedback: int
    judge: int = 0  # rows graded by the judge (answers clients got)
    shadow: int = 0  # rows graded by the judge from shadow calls
    built: int = 0  # rows of `v0-gateway profile build` (the judge grading the shipped prompt set)


class GatewayMeta(SQLModel, table=True):
    """Small key/value facts about the database (e.g. that default profiles were seeded)."""

    __tablename__ = "gateway_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="", max_length=256)
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(DateTime(timezone=True), nullable=False))


class ProfileFeature(SQLModel, table=True):
    """Encoded features of a profile prompt, shared by replicas: a replica that learns of new
    rows from the database loads their features instead of encoding them again. A cache:
    rows are keyed by (V0 fingerprint, sha256 of the text) and may be deleted at any time."""

    __tablename__ = "profile_feature"
    fingerprint: str = Field(primary_key=True, max_length=32)
    text_hash: str = Field(primary_key=True, max_length=64)
    dim: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float32, little-endian
