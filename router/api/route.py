"""POST /v1/route: the routing decision for a chat-completions body, without calling any model.

Same body, auth and threshold override as /v1/chat/completions. No decision row is written
(nothing was answered, so there is nothing to grade); the response has no decision id.
"""

from __future__ import annotations

from fastapi import APIRouter

from router.api.deps import ChatRequestDep, AdmittedClientDep, GuardDep, RuntimeDep, ThresholdDep
from router.plan import plan_request
from router.api.openapi import request_body
from router.protocol import ChatCompletionRequest, RouteCandidate, RouteResponse

router = APIRouter(prefix="/v1")


@router.post("/route", openapi_extra=request_body(ChatCompletionRequest))
async def route(_: AdmittedClientDep, req: ChatRequestDep, threshold: ThresholdDep, runtime: RuntimeDep,
                guard: GuardDep) -> RouteResponse:
    plan = await plan_request(req, runtime, guard, threshold=threshold)
    return RouteResponse(
        requested_model=plan.requested_model, policy=plan.policy, strategy=plan.strategy,
        threshold=plan.threshold, chosen=plan.chosen, reason=plan.reason or "unrouted",
        fallbacks=list(plan.fallbacks), prompt_tokens=plan.prompt_tokens,
        candidates=[RouteCandidate(name=e.name, p_success=e.p_success, expected_cost=e.expected_cost,
                                   clears_threshold=plan.threshold is not None and e.p_success >= plan.threshold,
                                   profile_version=plan.profile_versions.get(e.name, 0))
                    for e in plan.estimates])
