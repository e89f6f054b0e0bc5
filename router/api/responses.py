"""POST /v1/responses (OpenAI Responses API): translated to chat at the edge (responses_wire.py),
served by router/serving like every surface, answered as a ``response`` object or its event
stream (``response.created`` ... ``response.output_text.delta`` ... ``response.completed``)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from router.api.deps import ServingDep, SettingsDep, check_prompt, json_body_of, threshold_for
from router.api.openapi import request_body
from router.api.responses_wire import (ResponsesRequest, call_item, message_item, output_items, response_object,
                                       to_chat)
from router.protocol import GatewayError
from router.serving import ServedStream, serve

router = APIRouter(prefix="/v1")


@router.post("/responses", response_model=None, openapi_extra=request_body(ResponsesRequest))
async def responses(request: Request, settings: SettingsDep, ctx: ServingDep) -> JSONResponse | StreamingResponse:
    req = await json_body_of(request, settings, ResponsesRequest)
    chat = check_prompt(to_chat(req))
    served = await serve(ctx, chat, surface="responses", threshold=threshold_for(request, req.v0_threshold))
    if isinstance(served, ServedStream):
        return StreamingResponse(_events(req, served), media_type="text/event-stream", headers=served.headers)
    result = served.result
    body = response_object(req, served.plan.decision_id, result.answered,
                           output_items(served.plan.decision_id, result.text, result.tool_calls),
                           served.body.get("usage"))
    return JSONResponse(body, headers=served.headers)


class _Stream:
    """Chat chunks -> Responses events, with the output items built as they arrive."""

    def __init__(self, req: ResponsesRequest, decision_id: str, model: str) -> None:
        self.req, self.id, self.model = req, decision_id, model
        self.created = int(time.time())
        self.seq = 0
        self.items: list[dict[str, Any]] = []  # output items, in order
        self.text: dict[str, Any] | None = None  # the open message item
        self.calls: dict[int, dict[str, Any]] = {}  # chat tool-call index -> its open item
        self.usage: dict[str, Any] | None = None

    def event(self, kind: str, **data: Any) -> str:
        payload = {"type": kind, "sequence_number": self.seq, **data}
        self.seq += 1
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"

    def response(self, status: str) -> dict[str, Any]:
        return response_object(self.req, self.id, self.model, self.items, self.usage if status == "completed" else None,
                               status=status, created=self.created)

    def start(self) -> list[str]:
        return [self.event("response.created", response=self.response("in_progress")),
                self.event("response.in_progress", response=self.response("in_progress"))]

    def chunk(self, data: dict[str, Any]) -> list[str]:
        out: list[str] = []
        if data.get("usage"):
            self.usage = data["usage"]
        for choice in data.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                out += self._text(delta["content"])
            for call in delta.get("tool_calls") or []:
                out += self._call(call)
        return out

    def _text(self, piece: str) -> list[str]:
        out = []
        if self.text is None:
            self.text = message_item(self.id, None, "in_progress")
            self.text["_index"], self.text["_text"] = len(self.items), ""
            self.items.append(self.text)
            out += [self.event("response.output_item.added", output_index=self.text["_index"],
                               item=_public(self.text)),
                    self.event("response.content_part.added", item_id=self.text["id"],
                               output_index=self.text["_index"], content_index=0,
                               part={"type": "output_text", "text": "", "annotations": []})]
        self.text["_text"] += piece
        out.append(self.event("response.output_text.delta", item_id=self.text["id"],
                              output_index=self.text["_index"], content_index=0, delta=piece))
        return out

    def _call(self, delta: dict[str, Any]) -> list[str]:
        out = []
        index = delta.get("index", 0)
        item = self.calls.get(index)
        fn = delta.get("function") or {}
        if item is None:
            out += self._close_text()
            item = call_item(self.id, len(self.calls), {"id": delta.get("id"), "function": {"name": fn.get("name")}},
                             "in_progress")
            item["_index"] = len(self.items)
            self.calls[index] = item
            self.items.append(item)
            out.append(self.event("response.output_item.added", output_index=item["_index"], item=_public(item)))
        if fn.get("arguments"):
            item["arguments"] += fn["arguments"]
            out.append(self.event("response.function_call_arguments.delta", item_id=item["id"],
                                  output_index=item["_index"], delta=fn["arguments"]))
        return out

    def _close_text(self) -> list[str]:
        item, self.text = self.text, None
        if item is None:
            return []
        text = item.pop("_text")
        part = {"type": "output_text", "text": text, "annotations": []}
        item.update(status="completed", content=[part])
        return [self.event("response.output_text.done", item_id=item["id"], output_index=item["_index"],
                           content_index=0, text=text),
                self.event("response.content_part.done", item_id=item["id"], output_index=item["_index"],
                           content_index=0, part=part),
                self.event("response.output_item.done", output_index=item["_index"], item=_public(item))]

    def finish(self) -> list[str]:
        out = self._close_text()
        for item in self.calls.values():
            item["status"] = "completed"
            out += [self.event("response.function_call_arguments.done", item_id=item["id"],
                               output_index=item["_index"], arguments=item["arguments"]),
                    self.event("response.output_item.done", output_index=item["_index"], item=_public(item))]
        if not self.items:  # an empty answer is still one (empty) message
            self.items.append(message_item(self.id, "", "completed"))
        self.items[:] = [_public(i) for i in self.items]
        return out + [self.event("response.completed", response=self.response("completed"))]


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


async def _events(req: ResponsesRequest, stream: ServedStream) -> AsyncIterator[str]:
    state = _Stream(req, stream.plan.decision_id, stream.headers["x-v0-model"])
    try:
        for line in state.start():
            yield line
        try:
            async for data in stream.chunks():
                for line in state.chunk(data):
                    yield line
        except GatewayError as err:  # a failure midway: an error event (the SDK raises it)
            body = err.body.model_dump()
            yield state.event("error", code=err.body.code, message=err.body.message, param=err.body.param,
                              error=body)
            return
        for line in state.finish():
            yield line
    finally:
        stream.close()
