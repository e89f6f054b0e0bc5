"""Reading the decision log back for the operator console: traffic totals per time bucket,
graded rows, the rows a replay re-decides, recent decisions. Keyword-only functions taking a
Session; nothing is written. Times are UTC."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Float, and_, case, cast, func
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select

from router.store.grade_models import Grade
from router.store.models import Decision

Bucket = Literal["hour", "day"]


@dataclass(frozen=True)
class Traffic:
    """One (time bucket, policy, model, ok, surface) group. ``model`` is the candidate that answered, or
    for a failed request the one it was sent to. ``priced`` rows have both token counts."""

    bucket: str  # "YYYY-MM-DDTHH:00:00Z"
    policy: str | None
    model: str
    ok: bool
    requests: int
    graded: int  # with a grade: feedback or the judge's
    cost_usd: float  # logged actual cost (missing = 0)
    priced_cost_usd: float  # the same, over the priced rows only
    prompt_tokens: int  # over the priced rows
    completion_tokens: int
    surface: str = "chat"  # the API the requests came in on


@dataclass(frozen=True)
class Graded:
    model: str  # answered
    p_success: float | None  # the answering model's logged P (None: it was not scored)
    score: float


@dataclass(frozen=True)
class Logged:
    """A routed decision as replay reads it."""

    id: str
    candidates: list[dict[str, Any]]
    chosen_model: str
    answered_model: str | None
    ok: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    feedback_score: float | None
    explore_rate: float | None
    propensity: float | None


def _filters(*, since: datetime | None, until: datetime | None, policy: str | None = None,
             key_id: int | None = None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if since is not None:
        out.append(col(Decision.created_at) >= since)
    if until is not None:
        out.append(col(Decision.created_at) < until)
    if policy is not None:
        out.append(col(Decision.policy) == policy)
    if key_id is not None:
        out.append(col(Decision.client_key_id) == key_id)
    return out


def _bucket(session: Session, bucket: Bucket) -> ColumnElement[str]:
    created = col(Decision.created_at)
    if session.get_bind().dialect.name == "postgresql":
        fmt = 'YYYY-MM-DD"T"HH24:00:00"Z"' if bucket == "hour" else 'YYYY-MM-DD"T00:00:00Z"'
        return func.to_char(func.timezone("UTC", created), fmt)
    return func.strftime("%Y-%m-%dT%H:00:00Z" if bucket == "hour" else "%Y-%m-%dT00:00:00Z", created)


def traffic(*, session: Session, since: datetime | None = None, until: datetime | None = None,
            policy: str | None = None, key_id: int | None = None, bucket: Bucket = "hour") -> list[Traffic]:
    when = _bucket(session, bucket).label("bucket")
    model = func.coalesce(col(Decision.answered_model), col(Decision.chosen_model)).label("model")
    ok = (col(Decision.status) == "ok").label("ok")
    priced = and_(col(Decision.prompt_tokens).is_not(None), col(Decision.completion_tokens).is_not(None))
    cost = func.coalesce(col(Decision.cost_usd), 0.0)
    stmt = (
        select(when, col(Decision.policy), model, ok, col(Decision.surface), func.count(),
               func.sum(case((_grade().is_not(None), 1), else_=0)),
               func.sum(cast(cost, Float)), func.sum(case((priced, cost), else_=0.0)),
               func.sum(case((priced, col(Decision.prompt_tokens)), else_=0)),
               func.sum(case((priced, col(Decision.completion_tokens)), else_=0)))
        .where(*_filters(since=since, until=until, policy=policy, key_id=key_id))
        .group_by(when, col(Decision.policy), model, ok, col(Decision.surface))
        .order_by(when)
    )
    return [Traffic(str(b), p, m, bool(o), int(n), int(g or 0), float(c or 0), float(pc or 0), int(pt or 0),
                    int(ct or 0), str(sf))
            for b, p, m, o, sf, n, g, c, pc, pt, ct in session.exec(stmt)]  # type: ignore[call-overload]


def _grade() -> ColumnElement[float]:
    """A decision's grade: the human's (feedback) over the judge's."""
    return func.coalesce(col(Decision.feedback_score), col(Decision.judge_score))


def graded(*, session: Session, since: datetime | None = None, until: datetime | None = None,
           policy: str | None = None, key_id: int | None = None) -> list[Graded]:
    """Routed, answered decisions with a grade (feedback, else the judge's): the answering
    model's logged P and the grade."""
    stmt = (
        select(col(Decision.answered_model), col(Decision.candidates), _grade())
        .where(col(Decision.policy).is_not(None), _grade().is_not(None),
               col(Decision.answered_model).is_not(None), col(Decision.status) == "ok",
               *_filters(since=since, until=until, policy=policy, key_id=key_id))
    )
    out = []
    for model, candidates, score in session.exec(stmt):  # type: ignore[call-overload]
        p = next((c["p_success"] for c in candidates if c.get("name") == model), None)
        out.append(Graded(model, None if p is None else float(p), float(score)))
    return out


def routed(*, session: Session, policy: str, since: datetime | None = None,
           until: datetime | None = None, chunk: int = 1000) -> Iterator[Logged]:
    """Every logged routed decision of ``policy``, oldest first, streamed: only the columns replay
    reads, fetched ``chunk`` rows at a time (the log is never held in memory at once)."""
    stmt = (
        select(Decision.id, Decision.candidates, Decision.chosen_model, Decision.answered_model, Decision.status,
               Decision.prompt_tokens, Decision.completion_tokens, Decision.feedback_score, Decision.explore_rate,
               Decision.propensity)
        .where(*_filters(since=since, until=until, policy=policy))
        .order_by(col(Decision.created_at), col(Decision.id))
        .execution_options(yield_per=chunk)
    )
    for r in session.exec(stmt):
        yield Logged(r[0], r[1], r[2], r[3], r[4] == "ok", *r[5:])


def recent(*, session: Session, limit: int, policy: str | None = None) -> list[Decision]:
    """The newest decisions, newest first."""
    stmt = (select(Decision).where(*_filters(since=None, until=None, policy=policy))
            .order_by(col(Decision.created_at).desc(), col(Decision.id)).limit(limit))
    return list(session.exec(stmt))


@dataclass(frozen=True)
class GradingSpend:
    judge_usd: float  # the judge's calls (grades of answers and of shadow answers)
    shadow_usd: float  # the shadow answers themselves


def grading_spend(*, session: Session, since: datetime | None = None, until: datetime | None = None,
                  policy: str | None = None, key_id: int | None = None) -> GradingSpend:
    """Judge and shadow spend from the grading log (``key_id``: on that key's decisions)."""
    stmt = select(func.sum(col(Grade.judge_cost_usd)), func.sum(col(Grade.answer_cost_usd)))
    if since is not None:
        stmt = stmt.where(col(Grade.created_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Grade.created_at) < until)
    if policy is not None:
        stmt = stmt.where(col(Grade.policy) == policy)
    if key_id is not None:
        stmt = stmt.join(Decision, col(Decision.id) == col(Grade.decision_id)).where(
            col(Decision.client_key_id) == key_id)
    judge, shadow = session.exec(stmt).one()  # type: ignore[call-overload]
    return GradingSpend(float(judge or 0.0), float(shadow or 0.0))
