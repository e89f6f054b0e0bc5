"""POST /v1/select: which prompts of a pool to roll out (RL prompt selection, a V0 endpoint).

Each pool prompt's pass rate gets a Beta prior around V0's prediction (the profile as in
``/v1/score``: a candidate's stored one or inline rows), updated with the prompt's own history
when it has one (``valuemodel.allocate.select``); the ``batch_size`` prompts with the highest
P(informative group of ``group_size``) are chosen. Same edge checks, limits and scoring path as
``/v1/allocate`` (``router/api/rollouts.py``): every check runs before any encoding.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.api.deps import AdmittedClientDep, RuntimeDep, SettingsDep
from router.api.openapi import request_body
from router.api.rollouts import ProfileSource, ScoreRequest, Text, _predict, _reader, _scorer
from router.protocol import GatewayError
from router.settings import Settings
from router.store.executor import run_scoring
from valuemodel.allocate import Posterior, select

router = APIRouter(prefix="/v1")


class History(BaseModel):
    """The prompt's own past rollouts (earlier epochs): ``successes`` of ``trials``."""
    model_config = ConfigDict(extra="forbid")
    successes: int = Field(ge=0, le=10**9)
    trials: int = Field(ge=0, le=10**9)

    @model_validator(mode="after")
    def _at_most_trials(self) -> "History":
        if self.successes > self.trials:
            raise ValueError(f"successes ({self.successes}) is more than trials ({self.trials})")
        return self


class PoolPrompt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=256)
    prompt: Text
    history: History | None = None


class SelectRequest(ProfileSource):
    pool: list[PoolPrompt] = Field(min_length=1)
    batch_size: int = Field(ge=1)
    group_size: int = Field(default=8, ge=2, le=4096)  # rollouts each chosen prompt will get
    evidence: float | None = Field(default=None, gt=0, le=1e6, allow_inf_nan=False)  # default: setting
    shrink: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)  # toward the profile mean


class Chosen(BaseModel):
    id: str
    p_success: float  # V0's predicted pass rate
    p_posterior: float  # the posterior mean: V0's prior with the prompt's history
    p_informative: float  # P(a group of group_size has a success and a failure)


class SelectResponse(BaseModel):
    selected: list[Chosen]  # highest p_informative first
    expected_informative: float  # sum of the chosen prompts' p_informative
    random_expected_informative: float  # batch_size x the pool's mean p_informative
    evidence: float  # the prior's weight, in rollouts
    shrink: float
    profile_version: int  # the stored profile's version; 0 for an inline profile
    profile_rows: int


def _check_pool(req: SelectRequest) -> None:
    if req.batch_size > len(req.pool):
        raise GatewayError(400, f"batch_size ({req.batch_size}) is more than the pool ({len(req.pool)} prompts).",
                           param="batch_size", code="invalid_value")
    seen: set[str] = set()
    for i, item in enumerate(req.pool):
        if item.id in seen:
            raise GatewayError(400, f"pool.{i}.id: '{item.id}' appears twice; ids must be unique.",
                               param=f"pool.{i}.id", code="invalid_value")
        seen.add(item.id)


def _select(scorer, req: SelectRequest, settings: Settings) -> SelectResponse:
    scoring = ScoreRequest.model_construct(model=req.model, profile=req.profile, prompts=[x.prompt for x in req.pool])
    p, version, rows, mean = _predict(scorer, scoring)
    post = Posterior(req.evidence or settings.allocate_evidence,
                     settings.allocate_shrink if req.shrink is None else req.shrink)
    hist = [x.history or History(successes=0, trials=0) for x in req.pool]
    s = select(p, req.batch_size, group_size=req.group_size, posterior=post, prior_mean=mean,
               successes=[h.successes for h in hist], trials=[h.trials for h in hist])
    chosen = [Chosen(id=req.pool[i].id, p_success=p[i], p_posterior=round(float(s.p_mean[i]), 6),
                     p_informative=round(float(s.p_informative[i]), 6)) for i in s.chosen]
    return SelectResponse(selected=chosen, expected_informative=round(float(s.p_informative[s.chosen].sum()), 6),
                          random_expected_informative=round(req.batch_size * float(s.p_informative.mean()), 6),
                          evidence=post.evidence, shrink=post.shrink, profile_version=version, profile_rows=rows)


@router.post("/select", openapi_extra=request_body(SelectRequest))
async def select_prompts(_: AdmittedClientDep, req: Annotated[SelectRequest, _reader(SelectRequest)],
                         runtime: RuntimeDep, settings: SettingsDep, request: Request) -> SelectResponse:
    _check_pool(req)
    scorer = _scorer(request, req, runtime)
    return await run_scoring(request, _select, scorer, req, settings)
