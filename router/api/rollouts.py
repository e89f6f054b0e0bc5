"""POST /v1/score and POST /v1/allocate: batch P(success) and RL rollout budgets (V0 endpoints).

The profile is either a candidate's stored one (``"model"``: its current state, the largest
window the policies keep) or sent inline (``"profile"``: graded prompts, encoded for this call
and not stored). Prompts are encoded in batches on the scoring pool, off the event loop. Bodies
go through the edge checks with their own size limit (``V0_SCORE_MAX_BODY_BYTES``), and more
than ``V0_SCORE_MAX_PROMPTS`` prompts or profile rows is a 413; a prompt longer than
``V0_SCORE_MAX_PROMPT_CHARS`` or a ``total_budget`` above ``V0_ALLOCATE_MAX_TOTAL_BUDGET`` a 400.
Every check runs before any encoding (and after the key's limits admitted the call): a refused
request computes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.api.body import parse_model, read_body
from router.api.deps import AdmittedClientDep, RuntimeDep, SettingsDep
from router.api.openapi import request_body
from router.protocol import GatewayError
from router.settings import Settings
from router.store.executor import run_scoring
from valuemodel.allocate import Posterior, allocate, allocate_robust, informative, uniform

router = APIRouter(prefix="/v1")

Text = Annotated[str, Field(min_length=1)]


class ProfileRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: Text
    score: float = Field(ge=0, le=1, allow_inf_nan=False)


class ProfileSource(BaseModel):
    """Exactly one of ``model`` (a candidate's stored profile) and ``profile`` (inline rows)."""
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, min_length=1, max_length=256)
    profile: list[ProfileRow] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_profile(self) -> "ProfileSource":
        if (self.model is None) == (self.profile is None):
            raise ValueError("give exactly one of 'model' (a candidate) and 'profile' (graded prompts)")
        return self


class ScoreRequest(ProfileSource):
    prompts: list[Text] = Field(min_length=1)


class AllocateRequest(ScoreRequest):
    total_budget: int = Field(ge=1)
    min_budget: int = Field(default=2, ge=1)
    max_budget: int = Field(default=128, ge=1)
    # "robust": expected gains under a Beta around each prediction, uniform unless that gains in
    # expectation; "point": exact greedy on the predictions as they are.
    method: Literal["robust", "point"] = "robust"
    evidence: float | None = Field(default=None, gt=0, le=1e6, allow_inf_nan=False)  # default: setting
    shrink: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)  # toward the profile mean


class ScoreResponse(BaseModel):
    p_success: list[float]
    profile_version: int  # the stored profile's version; 0 for an inline profile
    profile_rows: int


class AllocateResponse(ScoreResponse):
    budgets: list[int]
    expected_informative: float  # under the method's own model of p (predictions, or the Beta)
    uniform_expected_informative: float
    method: Literal["greedy", "uniform", "point"]  # "uniform": the robust method fell back


def _reader(model: type[BaseModel]) -> Any:
    async def read(request: Request, settings: SettingsDep) -> BaseModel:
        body = await read_body(request, settings.score_max_body_bytes, timeout_s=settings.body_read_timeout_s)
        req = parse_model(body, model)
        for name in ("prompts", "pool", "profile"):  # /v1/select sends a pool
            items = getattr(req, name, None) or []
            if len(items) > settings.score_max_prompts:
                raise GatewayError(413, f"{name}: {len(items)} items, more than {settings.score_max_prompts} "
                                   "(V0_SCORE_MAX_PROMPTS).", param=name, code="too_many_prompts")
        texts = [(f"prompts.{i}", t) for i, t in enumerate(getattr(req, "prompts", None) or [])]
        texts += [(f"pool.{i}.prompt", q.prompt) for i, q in enumerate(getattr(req, "pool", None) or [])]
        texts += [(f"profile.{i}.prompt", r.prompt) for i, r in enumerate(getattr(req, "profile", None) or [])]
        for param, text in texts:
            if len(text) > settings.score_max_prompt_chars:
                raise GatewayError(400, f"{param}: {len(text)} characters, more than {settings.score_max_prompt_chars} "
                                   "(V0_SCORE_MAX_PROMPT_CHARS).", param=param, code="prompt_too_long")
        if isinstance(req, AllocateRequest) and req.total_budget > settings.allocate_max_total_budget:
            raise GatewayError(400, f"total_budget: {req.total_budget} is more than "
                               f"{settings.allocate_max_total_budget} (V0_ALLOCATE_MAX_TOTAL_BUDGET).",
                               param="total_budget", code="budget_too_large")
        return req

    return Depends(read)


def _scorer(request: Request, req: ScoreRequest, runtime: RuntimeDep) -> Any:
    scorer = request.app.state.scorer
    if scorer is None:
        raise GatewayError(503, "V0 is not loaded (V0_SCORER=stand-in).", type="service_unavailable",
                           code="v0_unavailable")
    if req.model is not None and req.model not in runtime.policies.candidates:
        raise GatewayError(404, f"The model '{req.model}' is not a candidate (GET /v1/models).",
                           param="model", code="model_not_found")
    return scorer


def _predict(scorer: Any, req: ScoreRequest) -> tuple[list[float], int, int, float]:
    """(p_success, profile_version, profile rows, profile mean score), on the scoring pool."""
    if req.profile is not None:
        built = scorer.fit_inline([r.prompt for r in req.profile], [r.score for r in req.profile])
    else:
        built = scorer.current(req.model)
        if built is None:
            raise GatewayError(409, f"The model '{req.model}' has no profile rows to predict from.",
                               param="model", code="profile_unavailable")
    p = scorer.predict_many(req.prompts, built)
    return [round(x, 6) for x in p], built.version, built.rows, sum(built.scores) / len(built.scores)


def _check_budgets(req: AllocateRequest) -> None:
    n = len(req.prompts)
    if req.max_budget < req.min_budget:
        raise GatewayError(400, f"max_budget ({req.max_budget}) is below min_budget ({req.min_budget}).",
                           param="max_budget", code="invalid_value")
    if not n * req.min_budget <= req.total_budget <= n * req.max_budget:
        raise GatewayError(400, f"total_budget must be in [{n * req.min_budget}, {n * req.max_budget}] for "
                           f"{n} prompts (min_budget x prompts, max_budget x prompts), got {req.total_budget}.",
                           param="total_budget", code="invalid_value")


def _allocate(scorer: Any, req: AllocateRequest, settings: Settings) -> AllocateResponse:
    p, version, rows, mean = _predict(scorer, req)
    kw = {"min_budget": req.min_budget, "max_budget": req.max_budget}
    if req.method == "point":
        budgets = allocate(p, req.total_budget, **kw)
        got, base, method = informative(p, budgets), informative(p, uniform(len(p), req.total_budget)), "point"
    else:
        post = Posterior(req.evidence or settings.allocate_evidence,
                         settings.allocate_shrink if req.shrink is None else req.shrink)
        a = allocate_robust(p, req.total_budget, posterior=post, prior_mean=mean, **kw)
        budgets, got, base, method = a.budgets, a.expected_informative, a.uniform_expected_informative, a.method
    return AllocateResponse(p_success=p, profile_version=version, profile_rows=rows,
                            budgets=[int(b) for b in budgets], expected_informative=round(got, 6),
                            uniform_expected_informative=round(base, 6), method=method)


@router.post("/score", openapi_extra=request_body(ScoreRequest))
async def score(_: AdmittedClientDep, req: Annotated[ScoreRequest, _reader(ScoreRequest)], runtime: RuntimeDep,
                request: Request) -> ScoreResponse:
    scorer = _scorer(request, req, runtime)
    p, version, rows, _mean = await run_scoring(request, _predict, scorer, req)
    return ScoreResponse(p_success=p, profile_version=version, profile_rows=rows)


@router.post("/allocate", openapi_extra=request_body(AllocateRequest))
async def allocate_budgets(_: AdmittedClientDep, req: Annotated[AllocateRequest, _reader(AllocateRequest)],
                           runtime: RuntimeDep, settings: SettingsDep, request: Request) -> AllocateResponse:
    _check_budgets(req)
    scorer = _scorer(request, req, runtime)
    return await run_scoring(request, _allocate, scorer, req, settings)
