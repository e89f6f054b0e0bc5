"""OpenAI-compatible routes: POST /v1/chat/completions (JSON and SSE), GET /v1/models.

The chat route only translates the wire format; serving is router/serving."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from router.api.deps import ChatRequestDep, ClientKeyDep, RuntimeDep, ServingDep, ThresholdDep
from router.api.openapi import request_body
from router.policies import AUTO_MODEL, POLICY_PREFIX
from router.protocol import ChatCompletionRequest, ChatCompletionResponse, ErrorResponse, GatewayError, ModelCard, ModelList
from router.serving import ServedStream, serve

router = APIRouter(prefix="/v1")


@router.get("/models", response_model_exclude_none=True)
async def list_models(_: ClientKeyDep, runtime: RuntimeDep) -> ModelList:
    policies = runtime.policies
    cards = [ModelCard(id=AUTO_MODEL, owned_by="v0-gateway", kind="policy")]
    cards += [ModelCard(id=POLICY_PREFIX + name, owned_by="v0-gateway", kind="policy")
              for name in policies.policies]
    cards += [ModelCard(id=name, owned_by=c.model.split("/", 1)[0], kind="candidate")
              for name, c in policies.candidates.items()]
    cards += [ModelCard(id=alias, owned_by="v0-gateway", kind="alias", alias_of=target)
              for alias, target in policies.spec.aliases.items()]
    return ModelList(data=cards)


@router.post("/chat/completions", response_model=None, openapi_extra=request_body(ChatCompletionRequest))
async def chat_completions(req: ChatRequestDep, threshold: ThresholdDep,
                           ctx: ServingDep) -> JSONResponse | StreamingResponse:
    served = await serve(ctx, req, surface="chat", threshold=threshold)
    if isinstance(served, ServedStream):
        wants_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(_sse(served, wants_usage), media_type="text/event-stream", headers=served.headers)
    response = ChatCompletionResponse.model_validate(served.body)
    return JSONResponse(response.model_dump(exclude_none=True), headers=served.headers)


async def _sse(stream: ServedStream, wants_usage: bool) -> AsyncIterator[str]:
    """Chunks as server-sent events; usage only when asked for; a failure midway is an error
    event, then [DONE]."""
    try:
        try:
            async for data in stream.chunks():
                if data.get("usage") and not wants_usage:
                    if not data.get("choices"):
                        continue
                    data = {k: v for k, v in data.items() if k != "usage"}
                yield f"data: {json.dumps(data)}\n\n"
        except GatewayError as err:
            yield f"data: {ErrorResponse(error=err.body).model_dump_json()}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        stream.close()
