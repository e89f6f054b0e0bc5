"""OpenAI-compatible routes: POST /v1/chat/completions (JSON and SSE), GET /v1/models."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from router.api.deps import (AdmittedClientDep, ChatRequestDep, ClientKeyDep, GuardDep, RuntimeDep, SettingsDep,
                             ThresholdDep, WriterDep)
from router.keys import Identity
from router.limits import KeyLimiter
from router.plan import Plan, plan_request
from router.policies import AUTO_MODEL, POLICY_PREFIX
from router.api.metrics import Metrics
from router.api.openapi import request_body
from router.protocol import ChatCompletionRequest, ChatCompletionResponse, ErrorResponse, GatewayError, ModelCard, ModelList
from router.store.models import DecisionCreate
from router.upstream import Upstream, answered_by, to_gateway_error

router = APIRouter(prefix="/v1")
logger = logging.getLogger(__name__)

@router.get("/models")
async def list_models(_: ClientKeyDep, runtime: RuntimeDep) -> ModelList:
    policies = runtime.policies
    cards = [ModelCard(id=AUTO_MODEL, owned_by="v0-gateway", kind="policy")]
    cards += [ModelCard(id=POLICY_PREFIX + name, owned_by="v0-gateway", kind="policy")
              for name in policies.policies]
    cards += [ModelCard(id=name, owned_by=c.model.split("/", 1)[0], kind="candidate")
              for name, c in policies.candidates.items()]
    return ModelList(data=cards)


@router.post("/chat/completions", response_model=None, openapi_extra=request_body(ChatCompletionRequest))
async def chat_completions(req: ChatRequestDep, threshold: ThresholdDep, identity: AdmittedClientDep,
                           runtime: RuntimeDep, guard: GuardDep, writer: WriterDep, settings: SettingsDep,
                           request: Request) -> JSONResponse | StreamingResponse:
    started = time.perf_counter()
    draw = request.app.state.explore_rng.random()  # exploration's random input (policy ``explore``)
    plan = await plan_request(req, runtime, guard, threshold=threshold, draw=draw)
    metrics: Metrics = request.app.state.metrics
    metrics.decision_seconds.observe(time.perf_counter() - started)
    if plan.fallback_reason:
        metrics.scorer_fallbacks.labels(plan.fallback_reason).inc()
    log = _Logger(plan, writer, started, stream=req.stream, identity=identity, metrics=metrics,
                  limiter=request.app.state.limiter)
    upstream = runtime.upstream
    extra: dict[str, str] = {}
    if settings.debug_timing:  # request receipt (timing middleware) -> the upstream call
        received = getattr(request.state, "v0_received", started)
        extra["x-v0-overhead-ms"] = f"{(time.perf_counter() - received) * 1000:.3f}"
    log.upstream_started = time.perf_counter()
    try:
        result = await upstream.complete(candidate=plan.chosen, messages=req.upstream_messages(),
                                         params=req.upstream_params(plan.extra_params), fallbacks=plan.fallbacks,
                                         stream=req.stream)
    except GatewayError as err:
        log.failed(err)
        raise
    answered = answered_by(result, plan.chosen)
    headers = {**_headers(plan, answered), **extra}
    if req.stream:
        wants_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(_sse(result, answered, wants_usage, upstream, log),
                                 media_type="text/event-stream", headers=headers)
    body = result.model_dump(exclude_none=True)
    body["model"] = answered
    response = ChatCompletionResponse.model_validate(body)
    usage = response.usage
    hidden = getattr(result, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    if cost is None and usage is not None:
        cost = upstream.cost(answered, usage.prompt_tokens, usage.completion_tokens)
    log.succeeded(answered, usage.prompt_tokens if usage else None,
                  usage.completion_tokens if usage else None, cost)
    return JSONResponse(response.model_dump(exclude_none=True), headers=headers)


def _headers(plan: Plan, answered: str) -> dict[str, str]:
    """x-v0-p-success is the answering candidate's P (absent when it was not scored);
    x-v0-fallback-reason says why the scores were not real (e.g. ``profiles_unavailable``)."""
    headers = {"x-v0-model": answered, "x-v0-decision-id": plan.decision_id}
    if plan.fallback_reason:
        headers["x-v0-fallback-reason"] = plan.fallback_reason
    p = next((e.p_success for e in plan.estimates if e.name == answered), None)
    if p is not None:
        headers["x-v0-p-success"] = f"{p:.4f}"
    return headers


async def _sse(chunks: AsyncIterator[Any], answered: str, wants_usage: bool, upstream: Upstream,
               log: "_Logger") -> AsyncIterator[str]:
    usage: dict[str, Any] | None = None
    done = False
    try:
        try:
            async for chunk in chunks:
                data = chunk.model_dump(exclude_none=True)
                data["model"] = answered
                if data.get("usage"):
                    usage = data["usage"]
                    if not wants_usage:
                        if not data.get("choices"):
                            continue
                        data.pop("usage")
                yield f"data: {json.dumps(data)}\n\n"
        except Exception as exc:  # mid-stream failure: error event, then [DONE]
            logger.warning("stream from %s failed midway", answered, exc_info=exc)
            err = exc if isinstance(exc, GatewayError) else to_gateway_error(exc)
            log.failed(err, status="stream_error", answered=answered, http_status=200)
            done = True
            yield f"data: {ErrorResponse(error=err.body).model_dump_json()}\n\n"
            yield "data: [DONE]\n\n"
            return
        prompt = usage.get("prompt_tokens") if usage else None
        completion = usage.get("completion_tokens") if usage else None
        cost = upstream.cost(answered, prompt, completion) if usage else None
        log.succeeded(answered, prompt, completion, cost)
        done = True
        yield "data: [DONE]\n\n"
    finally:
        if not done:  # the client went away
            log.failed(GatewayError(499, "client closed the stream", type="client_closed"),
                       status="client_closed", answered=answered, http_status=200)


class _Logger:
    """Builds the request's one decision row and hands it to the writer (off the request path)."""

    def __init__(self, plan: Plan, writer: Any, started: float, *, stream: bool, identity: Identity,
                 metrics: Metrics, limiter: KeyLimiter) -> None:
        self.plan, self.writer, self.started, self.stream = plan, writer, started, stream
        self.identity, self.metrics, self.limiter = identity, metrics, limiter
        self.upstream_started: float | None = None  # set when the upstream call starts

    def _submit(self, **outcome: Any) -> None:
        plan = self.plan
        model = outcome.get("answered_model") or plan.chosen
        self.metrics.requests.labels(plan.policy or "none", model, outcome["status"]).inc()
        if self.upstream_started is not None:
            self.metrics.upstream_seconds.labels(model).observe(time.perf_counter() - self.upstream_started)
        self.writer.submit(DecisionCreate(
            id=plan.decision_id, requested_model=plan.requested_model, policy=plan.policy,
            chosen_model=plan.chosen, reason=plan.reason, threshold=plan.threshold,
            p_success=plan.p_success, stream=self.stream,
            candidates=[{"name": e.name, "p_success": e.p_success, "expected_cost": e.expected_cost}
                        for e in plan.estimates],
            profile_versions=plan.profile_versions or None,
            client_key_id=self.identity.key_id, routing_text=plan.routing_text,
            explore_rate=plan.explore_rate, propensity=plan.propensity,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 3), **outcome))

    def succeeded(self, answered: str, prompt_tokens: int | None, completion_tokens: int | None,
                  cost: float | None) -> None:
        self._submit(status="ok", http_status=200, answered_model=answered,
                     prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost)
        self.limiter.record(self.identity.key_id, (prompt_tokens or 0) + (completion_tokens or 0), cost or 0.0)

    def failed(self, err: GatewayError, *, status: str | None = None, answered: str | None = None,
               http_status: int | None = None) -> None:
        default = "upstream_timeout" if err.body.code == "upstream_timeout" else "upstream_error"
        self._submit(status=status or default, http_status=http_status or err.status,
                     answered_model=answered, error=err.body.message)
