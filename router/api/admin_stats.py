"""Admin API for the operator console (bearer V0_ADMIN_KEY; off without it: 404).

GET  /admin/stats?since=&until=&policy=&key_id=&bucket=hour|day   traffic, spend vs baseline (net of judge and
                                                                  shadow spend), calibration
POST /admin/replay {"policy", "threshold"?, "strategy"?, "lambda"?, "since"?, "until"?}  re-decide logged traffic
GET  /admin/decisions?limit=&policy=                              the newest decisions, every candidate's P and cost

Times are ISO 8601 (a time without an offset is UTC); ``since`` is inclusive, ``until`` exclusive.
The figures are defined in ``router/console/stats.py`` and ``router/console/replay.py``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from router.api.deps import DbDep, RuntimeDep, json_body, require_admin
from router.api.openapi import request_body
from router.console.replay import ReplayPolicy, replay
from router.console.stats import summarize
from router.protocol import GatewayError
from router.store import stats_crud

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])

When = datetime  # with an offset, or UTC without one
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]


class ReplayRequest(BaseModel):
    """POST /admin/replay: the policy's logged traffic, re-decided with these settings (each
    defaults to the policy's current one)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    policy: Name
    threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    strategy: Literal["threshold", "utility"] | None = None
    lambda_: float | None = Field(default=None, ge=0, le=1e6, allow_inf_nan=False, alias="lambda")
    since: When | None = None
    until: When | None = None


def utc(value: datetime | None, param: str = "since") -> datetime | None:
    """``value`` in UTC; 400 when that leaves the calendar (year 1 or 9999 with an offset) or falls
    outside the years a decision can carry (1970-9999)."""
    if value is None:
        return None
    try:
        out = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:
        out = None
    if out is None or not 1970 <= out.year <= 9998:
        raise GatewayError(400, f"{param}: {value.isoformat()} is out of range (years 1970 to 9998, UTC).",
                           param=param, code="invalid_value")
    return out


def window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    since, until = utc(since, "since"), utc(until, "until")
    if since is not None and until is not None and since >= until:
        raise GatewayError(400, "since must be earlier than until.", param="since", code="invalid_value")
    return since, until


@router.get("/stats")
async def stats(db: DbDep, runtime: RuntimeDep,
                since: Annotated[When | None, Query()] = None, until: Annotated[When | None, Query()] = None,
                policy: Annotated[str | None, Query(min_length=1, max_length=128, pattern=r"^[^\x00]+$")] = None,
                key_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                bucket: Annotated[Literal["hour", "day"], Query()] = "hour") -> dict[str, Any]:
    since, until = window(since, until)
    where = {"since": since, "until": until, "policy": policy, "key_id": key_id}
    traffic = await db(stats_crud.traffic, bucket=bucket, **where)
    graded = await db(stats_crud.graded, **where)
    grading = await db(stats_crud.grading_spend, **where)
    policies = {name: {"candidates": p.candidates, "fallback": p.fallback, "threshold": p.threshold,
                       "strategy": p.strategy, "explore": p.explore} for name, p in runtime.policies.policies.items()}
    return {"since": since, "until": until, "policy": policy, "key_id": key_id, "bucket": bucket,
            **summarize(traffic, graded, runtime.policies, grading), "policies": policies}


@router.post("/replay", openapi_extra=request_body(ReplayRequest))
async def replay_policy(body: Annotated[ReplayRequest, json_body(ReplayRequest)], db: DbDep,
                        runtime: RuntimeDep) -> dict[str, Any]:
    spec = runtime.policies.policies.get(body.policy)
    if spec is None:
        raise GatewayError(404, f"The policy '{body.policy}' does not exist (GET /v1/models).",
                           param="policy", code="policy_not_found")
    since, until = window(body.since, body.until)
    target = ReplayPolicy(
        name=body.policy, candidates=spec.candidates, fallback=spec.fallback,
        threshold=spec.threshold if body.threshold is None else body.threshold,
        strategy=body.strategy or spec.strategy, lam=spec.lambda_ if body.lambda_ is None else body.lambda_)
    def replayed(*, session: Session) -> dict[str, Any]:  # streams the log through replay, on the db pool
        return replay(stats_crud.routed(session=session, policy=body.policy, since=since, until=until),
                      target, runtime.policies)

    return {"since": since, "until": until, **await db(replayed)}


DECISION_FIELDS = ("id", "created_at", "requested_model", "policy", "chosen_model", "answered_model", "reason",
                   "candidates", "threshold", "p_success", "status", "latency_ms", "cost_usd", "feedback_score",
                   "judge_score", "judge_model", "judge_cost_usd", "explore_rate", "propensity", "profile_versions")


@router.get("/decisions")
async def decisions(db: DbDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    policy: Annotated[str | None, Query(min_length=1, max_length=128,
                                                        pattern=r"^[^\x00]+$")] = None) -> list[dict[str, Any]]:
    """The newest decisions (not their routing text)."""
    rows = await db(stats_crud.recent, limit=limit, policy=policy)
    return [{f: getattr(d, f) for f in DECISION_FIELDS} for d in rows]
