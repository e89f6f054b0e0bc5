"""POST /v1/route: the routing decision for a request body, without calling any model.

Same body, auth and threshold override as /v1/chat/completions; ``?surface=responses`` or
``?surface=messages`` takes a Responses or Anthropic Messages body instead (translated as those
routes do). No decision row is written (nothing was answered, so there is nothing to grade); the
response has no decision id. Conversation affinity is not applied (a dry run reads no history).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from router.api import messages_wire, responses_wire
from router.api.deps import (AdmittedClientDep, GuardDep, RuntimeDep, SettingsDep, check_prompt, json_body_of,
                             read_chat_request, threshold_for)
from router.plan import plan_request
from router.api.openapi import request_body
from router.protocol import ChatCompletionRequest, RouteCandidate, RouteResponse

router = APIRouter(prefix="/v1")


@router.post("/route", openapi_extra=request_body(ChatCompletionRequest))
async def route(_: AdmittedClientDep, request: Request, settings: SettingsDep, runtime: RuntimeDep, guard: GuardDep,
                surface: Literal["chat", "responses", "messages"] = "chat") -> RouteResponse:
    if surface == "responses":
        req = check_prompt(responses_wire.to_chat(await json_body_of(request, settings, responses_wire.ResponsesRequest)))
    elif surface == "messages":
        req = check_prompt(messages_wire.to_chat(await json_body_of(request, settings, messages_wire.MessagesRequest)))
    else:
        req = await read_chat_request(request, settings)
    plan = await plan_request(req, runtime, guard, threshold=threshold_for(request, req.v0_threshold))
    return RouteResponse(
        requested_model=plan.requested_model, policy=plan.policy, strategy=plan.strategy,
        threshold=plan.threshold, chosen=plan.chosen, reason=plan.reason or "unrouted",
        fallbacks=list(plan.fallbacks), prompt_tokens=plan.prompt_tokens,
        candidates=[RouteCandidate(name=e.name, p_success=e.p_success, expected_cost=e.expected_cost,
                                   clears_threshold=plan.threshold is not None and e.p_success >= plan.threshold,
                                   profile_version=plan.profile_versions.get(e.name, 0))
                    for e in plan.estimates])
