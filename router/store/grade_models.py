"""The grading log: one row per judge grade or shadow call (router/grading/).

``kind`` "judge" grades the answer the client got (the decision's answering model); "shadow"
grades a shadow call's answer, which a second candidate gave to the same request and which was
never returned. ``status`` says how it went: ``ok`` (graded), ``judge_error`` (the judge call
failed), ``bad_reply`` (the judge answered something other than the grade object), ``shadow_error``
(the shadow call failed, so there was nothing to grade) or ``over_budget`` (a shadow answer was
paid for but the day's cap left nothing for its grade). Spend is split into
the judge's and the shadow answer's, so the console can show them apart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel

from router.store.models import utcnow


class GradeBase(SQLModel):
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    decision_id: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=16)  # "judge" | "shadow"
    model: str = Field(max_length=256)  # the candidate whose answer was graded
    policy: str | None = Field(default=None, max_length=128)
    judge_model: str | None = Field(default=None, max_length=256)  # the judge candidate
    status: str = Field(max_length=32)  # ok | judge_error | bad_reply | shadow_error | over_budget
    grade: float | None = None  # in [0, 1] when status is ok
    p_success: float | None = None  # the graded model's P for this request at decision time
    judge_cost_usd: float = 0.0
    answer_cost_usd: float = 0.0  # shadow: the shadow answer's cost (judge rows: 0)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class GradeCreate(GradeBase):
    pass


class Grade(GradeBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
