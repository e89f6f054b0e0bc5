"""POST /v1/messages (Anthropic Messages): translated to chat at the edge (messages_wire.py),
served by router/serving like every surface, answered as a ``message`` or Anthropic's event
stream (``message_start``, ``content_block_*``, ``message_delta``, ``message_stop``). Keys come as
``x-api-key`` or ``Authorization: Bearer``; ``anthropic-version`` is accepted; errors on this path
use Anthropic's shape (router/api/errors.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from router.api.deps import ClientKeyDep, ServingDep, SettingsDep, check_prompt, json_body_of, threshold_for
from router.api.messages_wire import (STOP_REASONS, CountTokensRequest, MessagesRequest, anthropic_error,
                                      content_blocks, message_object, to_chat)
from router.api.openapi import request_body
from router.protocol import GatewayError
from router.serving import ServedStream, serve
from router.upstream import count_prompt_tokens

router = APIRouter(prefix="/v1")


@router.post("/messages", response_model=None, openapi_extra=request_body(MessagesRequest))
async def messages(request: Request, settings: SettingsDep, ctx: ServingDep) -> JSONResponse | StreamingResponse:
    req = await json_body_of(request, settings, MessagesRequest)
    chat = check_prompt(to_chat(req))
    served = await serve(ctx, chat, surface="messages", threshold=threshold_for(request, req.v0_threshold))
    if isinstance(served, ServedStream):
        return StreamingResponse(_events(served), media_type="text/event-stream", headers=served.headers)
    result = served.result
    body = message_object(served.plan.decision_id, result.answered, content_blocks(result.text, result.tool_calls),
                          result.finish_reason, served.body.get("usage"))
    return JSONResponse(body, headers=served.headers)


@router.post("/messages/count_tokens", response_model=None)
async def count_tokens(request: Request, settings: SettingsDep, _: ClientKeyDep) -> JSONResponse:
    """Anthropic's token count for a Messages body (``max_tokens`` optional here): the gateway's
    own prompt-token estimate (the one routing prices with), nothing called or logged."""
    raw = await json_body_of(request, settings, CountTokensRequest)
    chat = check_prompt(to_chat(MessagesRequest.model_validate({**raw.model_dump(exclude_none=True), "max_tokens": 1})))
    return JSONResponse({"input_tokens": count_prompt_tokens(chat.upstream_messages())})


def _event(kind: str, **data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


class _Blocks:
    """Chat chunks -> content blocks: one text block, then one tool_use block per tool call."""

    def __init__(self) -> None:
        self.count = 0
        self.open: tuple[str, int] | None = None  # ("text", -1) or ("tool", chat tool-call index)
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None

    def _start(self, key: tuple[str, int], block: dict[str, Any]) -> list[str]:
        out = self.stop()
        self.open = key
        out.append(_event("content_block_start", index=self.count, content_block=block))
        return out

    def stop(self) -> list[str]:
        if self.open is None:
            return []
        self.open = None
        self.count += 1
        return [_event("content_block_stop", index=self.count - 1)]

    def chunk(self, data: dict[str, Any]) -> list[str]:
        out: list[str] = []
        if data.get("usage"):
            self.usage = data["usage"]
        for choice in data.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            self.finish = choice.get("finish_reason") or self.finish
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                if self.open != ("text", -1):
                    out += self._start(("text", -1), {"type": "text", "text": ""})
                out.append(_event("content_block_delta", index=self.count,
                                  delta={"type": "text_delta", "text": delta["content"]}))
            for call in delta.get("tool_calls") or []:
                key = ("tool", call.get("index", 0))
                fn = call.get("function") or {}
                if self.open != key:
                    out += self._start(key, {"type": "tool_use", "id": call.get("id") or "",
                                             "name": fn.get("name") or "", "input": {}})
                if fn.get("arguments"):
                    out.append(_event("content_block_delta", index=self.count,
                                      delta={"type": "input_json_delta", "partial_json": fn["arguments"]}))
        return out


async def _events(stream: ServedStream) -> AsyncIterator[str]:
    decision_id, model = stream.plan.decision_id, stream.headers["x-v0-model"]
    blocks = _Blocks()
    try:
        start = message_object(decision_id, model, [], None, None)
        start["stop_reason"] = None
        yield _event("message_start", message=start)
        try:
            async for data in stream.chunks():
                for line in blocks.chunk(data):
                    yield line
        except GatewayError as err:  # a failure midway: Anthropic's error event (the SDK raises it)
            yield _event("error", error=anthropic_error(err.status, err.body.message)["error"])
            return
        if blocks.count == 0 and blocks.open is None:  # an empty answer is one empty text block
            for line in blocks._start(("text", -1), {"type": "text", "text": ""}):
                yield line
        for line in blocks.stop():
            yield line
        usage = blocks.usage or {}
        yield _event("message_delta", delta={"stop_reason": STOP_REASONS.get(blocks.finish or "stop", "end_turn"),
                                             "stop_sequence": None},
                     usage={"input_tokens": usage.get("prompt_tokens") or 0,
                            "output_tokens": usage.get("completion_tokens") or 0})
        yield _event("message_stop")
    finally:
        stream.close()
