"""Admin API: build a new candidate's profile (router/grading/build.py), bearer V0_ADMIN_KEY.

POST /admin/profiles/{model}/build {"judge"?, "max_tokens"?, "limit"?, "concurrency"?, "dry_run"?}
    202: the plan (prompts to send, already built, cost at most) and the build starts in the
    background; with ``dry_run`` only the plan (200). 409 while a build of that model runs.
GET  /admin/profiles/{model}/build   the last build's progress on this replica (404: none)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from router.api.admin_profiles import ModelName
from router.api.openapi import request_body
from router.api.deps import DbDep, ProfilesDep, RuntimeDep, SettingsDep, json_body, require_admin
from router.grading.build import BuildPlan, Progress, plan_build, run_build
from router.policy_sections import DEFAULT_RUBRIC
from router.protocol import GatewayError

router = APIRouter(prefix="/admin/profiles", dependencies=[Depends(require_admin)])
log = logging.getLogger(__name__)


class BuildRequest(BaseModel):
    """POST /admin/profiles/{model}/build."""

    model_config = ConfigDict(extra="forbid")
    judge: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"^[^\x00]+$")
    max_tokens: int = Field(default=512, ge=1, le=32_768)
    limit: int | None = Field(default=None, ge=1, le=100_000)
    concurrency: int = Field(default=4, ge=1, le=64)
    dry_run: bool = False


def _plan_json(plan: BuildPlan) -> dict[str, Any]:
    return {"candidate": plan.candidate, "judge": plan.judge, "to_send": len(plan.prompts), "already_built": plan.done,
            "max_tokens": plan.max_tokens, "estimate_usd": round(plan.estimate_usd, 9),
            "candidate_usd": round(plan.candidate_usd, 9), "judge_usd": round(plan.judge_usd, 9)}


@router.post("/{model}/build", response_model=None, openapi_extra=request_body(BuildRequest))
async def start_build(model: ModelName, body: Annotated[BuildRequest, json_body(BuildRequest)], request: Request,
                      runtime: RuntimeDep, profiles: ProfilesDep, settings: SettingsDep, db: DbDep) -> JSONResponse:
    builds: dict[str, tuple[Progress, asyncio.Task[Progress]]] = request.app.state.builds
    running = builds.get(model)
    if running is not None and not running[1].done():
        raise GatewayError(409, f"A profile build of {model!r} is running (GET this path for its progress).",
                           code="build_running")
    plan = await db.run(lambda: plan_build(runtime.policies, runtime.upstream, request.app.state.engine,
                                           candidate=model, judge=body.judge, max_tokens=body.max_tokens,
                                           limit=body.limit, judge_max_tokens=settings.judge_max_tokens))
    if body.dry_run:
        return JSONResponse(_plan_json(plan))
    grading = runtime.policies.spec.grading
    progress = Progress(total=len(plan.prompts))

    def show(p: Progress) -> None:
        progress.__dict__.update(p.__dict__)

    async def build() -> Progress:
        try:
            done = await run_build(plan, runtime.upstream, profiles, rubric=grading.rubric if grading else DEFAULT_RUBRIC,
                                   concurrency=body.concurrency, judge_max_tokens=settings.judge_max_tokens,
                                   on_progress=show)
        except Exception as exc:
            progress.state = "failed"
            progress.errors.append(str(exc)[:300])
            log.exception("profile build of %s failed", model)
            raise
        show(done)
        log.info("profile build of %s: %d rows written, %d failed, $%.4f", model, done.graded, done.failed,
                 done.spent_usd)
        return done

    builds[model] = (progress, asyncio.create_task(build(), name=f"profile-build-{model}"))
    return JSONResponse(_plan_json(plan), status_code=202)


@router.get("/{model}/build")
async def build_progress(model: ModelName, request: Request) -> dict[str, Any]:
    found = request.app.state.builds.get(model)
    if found is None:
        raise GatewayError(404, f"No profile build of {model!r} on this replica.", code="build_not_found")
    return found[0].public()
