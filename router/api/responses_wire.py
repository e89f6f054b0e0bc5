"""OpenAI Responses API wire format (``POST /v1/responses``), translated to and from chat.

The request becomes a :class:`ChatCompletionRequest` (instructions -> a system message; input items
-> messages; function tools -> chat tools; ``function_call`` / ``function_call_output`` items ->
assistant tool calls and tool messages), so it is routed, allowlisted, forwarded and logged like a
chat request. The answer becomes a ``response`` object whose output is a message item (the text)
and one ``function_call`` item per tool call.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from router.protocol import ChatCompletionRequest, GatewayError


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # undeclared fields: extras, refused unless allowed


def _number(lo: float, hi: float) -> Any:
    return Field(default=None, ge=lo, le=hi, allow_inf_nan=False)


class ResponsesRequest(_Open):
    model: str = Field(min_length=1, max_length=256)
    input: str | list[dict[str, Any]] = Field(min_length=1)
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    temperature: float | None = _number(0, 2)
    top_p: float | None = _number(0, 1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    previous_response_id: str | None = Field(default=None, max_length=128)
    metadata: dict[str, str] | None = None  # accepted, never forwarded (as on chat)
    user: str | None = Field(default=None, max_length=256)
    store: bool | None = None  # accepted; nothing is stored for later turns (see README)
    text: dict[str, Any] | None = None  # {"format": {"type": "text" | "json_object" | "json_schema", ...}}
    reasoning: dict[str, Any] | None = None  # {"effort": ...}
    truncation: str | None = Field(default=None, max_length=32)
    include: list[str] | None = None
    service_tier: str | None = Field(default=None, max_length=32)
    # V0 extension (as on chat): this request's P(success) threshold. Never forwarded.
    v0_threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)


def _bad(message: str, param: str, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def _content(parts: str | list[dict[str, Any]] | None, where: str) -> str | list[dict[str, Any]]:
    """Responses content parts -> chat content (a string, or text and image parts)."""
    if parts is None or isinstance(parts, str):
        return parts or ""
    out: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            out.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image" and part.get("image_url"):
            out.append({"type": "image_url", "image_url": {"url": part["image_url"],
                                                          "detail": part.get("detail") or "auto"}})
        elif kind != "refusal":
            raise _bad(f"{where}.{i}: content part type {kind!r} is not supported by this gateway "
                       "(input_text, output_text, input_image with image_url).", f"{where}.{i}.type")
    if all(p["type"] == "text" for p in out):
        return "\n".join(p["text"] for p in out)
    return out


def input_messages(req: ResponsesRequest) -> list[dict[str, Any]]:
    """instructions + input -> chat messages."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": req.instructions}] if req.instructions else []
    items = [{"role": "user", "content": req.input}] if isinstance(req.input, str) else req.input
    for i, item in enumerate(items):
        kind, where = item.get("type", "message"), f"input.{i}"
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise _bad(f"{where}.role: must be user, system, developer or assistant.", f"{where}.role")
            messages.append({"role": role, "content": _content(item.get("content"), f"{where}.content")})
        elif kind == "function_call":
            call = {"id": str(item.get("call_id", "")), "type": "function",
                    "function": {"name": str(item.get("name", "")), "arguments": str(item.get("arguments", ""))}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # one assistant turn: text and calls
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id", "")),
                             "content": output if isinstance(output, str) else _content(output, f"{where}.output")})
        elif kind != "reasoning":
            raise _bad(f"{where}: item type {kind!r} is not supported by this gateway (message, function_call, "
                       "function_call_output).", f"{where}.type")
    return messages


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise _bad(f"tools.{i}: only function tools are supported by this gateway, not "
                       f"{tool.get('type')!r}.", f"tools.{i}.type")
        fn = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def to_chat(req: ResponsesRequest) -> ChatCompletionRequest:
    """The chat request this Responses request is served as (400 on what cannot be translated)."""
    if req.previous_response_id is not None:
        raise _bad("previous_response_id is not supported by this gateway: send the conversation's items "
                   "in `input` (and keep the session with the x-v0-session header).", "previous_response_id",
                   "unsupported_parameter")
    fmt = (req.text or {}).get("format") or {}
    response_format = None
    if fmt.get("type") == "json_schema":
        response_format = {"type": "json_schema", "json_schema": {
            k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}}
    elif fmt.get("type") == "json_object":
        response_format = {"type": "json_object"}
    body: dict[str, Any] = {
        "model": req.model, "messages": input_messages(req), "stream": req.stream,
        "tools": _tools(req.tools) if req.tools else None, "tool_choice": _tool_choice(req.tool_choice),
        "parallel_tool_calls": req.parallel_tool_calls, "temperature": req.temperature, "top_p": req.top_p,
        "max_tokens": req.max_output_tokens, "user": req.user, "metadata": req.metadata,
        "response_format": response_format, "service_tier": req.service_tier,
        "reasoning_effort": (req.reasoning or {}).get("effort"), "v0_threshold": req.v0_threshold,
        **(req.model_extra or {})}  # undeclared fields: refused unless allowed, as on chat
    if not body["messages"]:
        raise _bad("input: no message to answer.", "input", "empty_prompt")
    return ChatCompletionRequest.model_validate({k: v for k, v in body.items() if v is not None})


def response_id(decision_id: str) -> str:
    return "resp_" + decision_id


def output_items(decision_id: str, text: str, tool_calls: Any) -> list[dict[str, Any]]:
    """The output: a message item with the text (when there is text or no tool call), then one
    function_call item per tool call."""
    items: list[dict[str, Any]] = []
    if text or not tool_calls:
        items.append(message_item(decision_id, text, "completed"))
    for i, call in enumerate(tool_calls or ()):
        items.append(call_item(decision_id, i, call, "completed"))
    return items


def message_item(decision_id: str, text: str | None, status: str) -> dict[str, Any]:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": "msg_" + decision_id, "status": status, "role": "assistant", "content": content}


def call_item(decision_id: str, index: int, call: dict[str, Any], status: str) -> dict[str, Any]:
    fn = call.get("function") or {}
    return {"type": "function_call", "id": f"fc_{decision_id}_{index}", "call_id": call.get("id") or "",
            "name": fn.get("name") or "", "arguments": fn.get("arguments") or "", "status": status}


def response_object(req: ResponsesRequest, decision_id: str, model: str, output: list[dict[str, Any]],
                    usage: dict[str, Any] | None, *, status: str = "completed",
                    created: int | None = None) -> dict[str, Any]:
    prompt = (usage or {}).get("prompt_tokens") or 0
    completion = (usage or {}).get("completion_tokens") or 0
    return {
        "id": response_id(decision_id), "object": "response", "created_at": created or int(time.time()),
        "status": status, "model": model, "output": output, "error": None, "incomplete_details": None,
        "instructions": req.instructions, "metadata": req.metadata or {}, "tools": req.tools or [],
        "tool_choice": req.tool_choice or "auto", "parallel_tool_calls": req.parallel_tool_calls is not False,
        "temperature": req.temperature, "top_p": req.top_p, "max_output_tokens": req.max_output_tokens,
        "previous_response_id": None, "text": req.text or {"format": {"type": "text"}},
        "usage": None if usage is None else {
            "input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
            "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}
