"""Anthropic Messages wire format (``POST /v1/messages``), translated to and from chat.

The request becomes a :class:`ChatCompletionRequest`: ``system`` -> a system message; text and
image blocks -> message content; ``tool_use`` blocks -> assistant tool calls; ``tool_result``
blocks -> tool messages; ``tools`` (``input_schema``) -> chat function tools; ``tool_choice``
auto/any/tool/none -> auto/required/the named function/none; ``stop_sequences`` -> ``stop``;
``metadata.user_id`` -> ``user``. Fields without a chat equivalent (``top_k``, ``thinking``, ...)
are extras, refused unless a candidate allows them (``extra_params``), as on chat.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from router.protocol import ChatCompletionRequest, GatewayError

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use"}


class MessagesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # undeclared fields: extras, refused unless allowed

    model: str = Field(min_length=1, max_length=256)
    max_tokens: int = Field(ge=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    top_p: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None  # user_id -> user; session_id keeps a conversation's model
    # V0 extension (as on chat): this request's P(success) threshold. Never forwarded.
    v0_threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)


class CountTokensRequest(MessagesRequest):
    """POST /v1/messages/count_tokens: a Messages body without ``max_tokens``."""

    max_tokens: int | None = Field(default=None, ge=1)  # type: ignore[assignment]


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(400, message, param=param, code="invalid_value")


def _text(blocks: str | list[dict[str, Any]] | None) -> str:
    if blocks is None or isinstance(blocks, str):
        return blocks or ""
    return "\n".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        raise _bad(f"{where}.source: an image source must be base64 or url.", f"{where}.source")
    return {"type": "image_url", "image_url": {"url": url}}


def _turn(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """One Anthropic message -> chat messages (tool results become tool messages, first)."""
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant"):
        raise _bad(f"{where}.role: must be user or assistant.", f"{where}.role")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise _bad(f"{where}.content: must be a string or a list of content blocks.", f"{where}.content")
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        kind, at = block.get("type"), f"{where}.content.{i}"
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "tool_use" and role == "assistant":
            calls.append({"id": str(block.get("id", "")), "type": "function", "function": {
                "name": str(block.get("name", "")), "arguments": json.dumps(block.get("input") or {})}})
        elif kind == "tool_result" and role == "user":
            result = block.get("content")
            text = _text(result) if isinstance(result, list) else (result or "")
            out.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")),
                        "content": ("Error: " + text) if block.get("is_error") else text})
        elif kind not in ("thinking", "redacted_thinking"):
            raise _bad(f"{at}: content block type {kind!r} is not supported here (text, image, tool_use in "
                       "assistant turns, tool_result in user turns).", f"{at}.type")
    if parts or calls:
        text_only = all(p["type"] == "text" for p in parts)
        body: dict[str, Any] = {"role": role,
                                "content": "\n".join(p["text"] for p in parts) if text_only else parts}
        if calls:
            body["tool_calls"] = calls
            body["content"] = body["content"] or None
        out.append(body)
    return out


def _tool_choice(choice: dict[str, Any] | None) -> tuple[Any, bool | None]:
    if not choice:
        return None, None
    parallel = False if choice.get("disable_parallel_tool_use") else None
    kind = choice.get("type")
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
    if kind == "tool":
        mapped = {"type": "function", "function": {"name": choice.get("name")}}
    if mapped is None:
        raise _bad("tool_choice.type: must be auto, any, tool or none.", "tool_choice.type")
    return mapped, parallel


def to_chat(req: MessagesRequest) -> ChatCompletionRequest:
    """The chat request this Messages request is served as (400 on what cannot be translated)."""
    messages: list[dict[str, Any]] = []
    if system := _text(req.system):
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(req.messages):
        messages += _turn(message, f"messages.{i}")
    tools = None
    if req.tools:
        tools = []
        for i, tool in enumerate(req.tools):
            if tool.get("type") not in (None, "custom"):
                raise _bad(f"tools.{i}: only client tools (name, input_schema) are supported here, not "
                           f"{tool.get('type')!r}.", f"tools.{i}.type")
            fn = {"name": tool.get("name"), "description": tool.get("description"),
                  "parameters": tool.get("input_schema")}
            tools.append({"type": "function", "function": {k: v for k, v in fn.items() if v is not None}})
    choice, parallel = _tool_choice(req.tool_choice)
    user = (req.metadata or {}).get("user_id")
    session = (req.metadata or {}).get("session_id")  # conversation affinity (never forwarded)
    body = {"model": req.model, "messages": messages, "stream": req.stream, "max_tokens": req.max_tokens,
            "stop": req.stop_sequences, "temperature": req.temperature, "top_p": req.top_p, "tools": tools,
            "tool_choice": choice, "parallel_tool_calls": parallel, "user": user,
            "v0_threshold": req.v0_threshold, "metadata": {"session_id": str(session)} if session else None,
            **(req.model_extra or {})}
    return ChatCompletionRequest.model_validate({k: v for k, v in body.items() if v is not None})


def content_blocks(text: str, tool_calls: Any) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text or not tool_calls else []
    for call in tool_calls or ():
        blocks.append(tool_use_block(call, parse_input((call.get("function") or {}).get("arguments"))))
    return blocks


def tool_use_block(call: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.get("id") or "", "name": (call.get("function") or {}).get("name") or "",
            "input": arguments}


def parse_input(arguments: str | None) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def message_object(decision_id: str, model: str, content: list[dict[str, Any]], finish: str | None,
                   usage: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": "msg_" + decision_id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": STOP_REASONS.get(finish or "stop", "end_turn"), "stop_sequence": None,
            "usage": {"input_tokens": (usage or {}).get("prompt_tokens") or 0,
                      "output_tokens": (usage or {}).get("completion_tokens") or 0}}


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error",
               503: "overloaded_error", 504: "timeout_error"}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error shape: ``{"type": "error", "error": {"type", "message"}}``."""
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}
