"""POST /v1/route: the routing decision for a chat-completions body, without calling any model.

Same body, auth and threshold override as /v1/chat/completions. No decision row is written
(nothing was answered, so there is nothing to grade); the response has no decision id.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from router.api.deps import ChatRequestDep, ClientKeyDep, RuntimeDep, ThresholdDep
from router.plan import make_plan
from router.api.openapi import request_body
from router.protocol import ChatCompletionRequest, RouteCandidate, RouteResponse
from router.store.executor import run_scoring

router = APIRouter(prefix="/v1")


@router.post("/route", openapi_extra=request_body(ChatCompletionRequest))
async def route(_: ClientKeyDep, req: ChatRequestDep, threshold: ThresholdDep, runtime: RuntimeDep,
                request: Request) -> RouteResponse:
    plan = await run_scoring(request, make_plan, req, runtime, threshold=threshold)
    return RouteResponse(
        requested_model=plan.requested_model, policy=plan.policy, strategy=plan.strategy,
        threshold=plan.threshold, chosen=plan.chosen, reason=plan.reason or "unrouted",
        fallbacks=list(plan.fallbacks), prompt_tokens=plan.prompt_tokens,
        candidates=[RouteCandidate(name=e.name, p_success=e.p_success, expected_cost=e.expected_cost,
                                   clears_threshold=plan.threshold is not None and e.p_success >= plan.threshold,
                                   profile_version=plan.profile_versions.get(e.name, 0))
                    for e in plan.estimates])
