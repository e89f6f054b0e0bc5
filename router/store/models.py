"""SQLModel tables. Families: XBase (shared fields) / XCreate (input) / X (table) / XPublic (output)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text
from pydantic import field_validator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DecisionBase(SQLModel):
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    requested_model: str = Field(max_length=256)  # what the client sent: "auto", "router/x", a candidate
    policy: str | None = Field(default=None, max_length=128)  # None = candidate forwarded unrouted
    chosen_model: str = Field(max_length=256)  # candidate the decision picked
    answered_model: str | None = Field(default=None, max_length=256)  # candidate that answered
    reason: str | None = Field(default=None, max_length=64)
    # Every candidate: [{"name", "p_success", "expected_cost"}], in policy order.
    candidates: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    threshold: float | None = None
    p_success: float | None = None  # of chosen_model
    stream: bool = False
    status: str = Field(max_length=32)  # "ok" | "upstream_error" | "upstream_timeout" | "stream_error"
    http_status: int | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None  # actual, from LiteLLM
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Profile version of every scored candidate, as used for this decision.
    profile_versions: dict[str, int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The client key (client_key.id) that made the request; None: no key or a V0_CLIENT_KEYS key.
    client_key_id: int | None = Field(default=None, index=True)
    # The text that was scored (router/scoring/text.py:routing_text). Kept so that feedback can append
    # (routing text, score) to the answering model's profile.
    routing_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    feedback_score: float | None = None  # POST /v1/feedback, in [0, 1]
    # Exploration (policy ``explore``): the rate in force and the probability that the policy chose
    # chosen_model given the logged scores (1 - rate + rate/M or rate/M). None: not routed.
    explore_rate: float | None = None
    propensity: float | None = None
    # Where the threshold came from: "policy", "request" (override) or "spend_target" (the
    # policy's spend controller set it, router/spend.py). None: not routed.
    threshold_source: str | None = Field(default=None, max_length=16)
    feedback_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    # The judge's grade of this answer (grading: sample_rate), the judge candidate and its cost;
    # a human grade (feedback_score) overrides it in the profile.
    judge_score: float | None = None
    judge_model: str | None = Field(default=None, max_length=256)
    judge_cost_usd: float | None = None
    # The API surface the request came in on: chat, responses, messages, embeddings.
    surface: str = Field(default="chat", max_length=16)
    # The conversation this turn belongs to (router/serving/affinity.py); indexed with created_at.
    conversation_key: str | None = Field(default=None, max_length=64)


INT32_MAX = 2**31 - 1  # the token columns' type (PostgreSQL integer)


class DecisionCreate(DecisionBase):
    id: str = Field(max_length=32)

    @field_validator("prompt_tokens", "completion_tokens", mode="before")
    @classmethod
    def _saturate(cls, value: Any) -> Any:
        """An upstream's token count beyond the column saturates (the row is never refused for it;
        its cost is the upstream's)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return min(max(value, 0), INT32_MAX)
        return value


class Decision(DecisionBase, table=True):
    __table_args__ = (Index("ix_decision_conversation_key", "conversation_key", "created_at"),)
    id: str = Field(primary_key=True, max_length=32)
