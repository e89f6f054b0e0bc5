"""What the loopback upstream (bench/loopback.py) answers: the chat payloads (fixed usage), tool
calls, tool results, embeddings."""

from __future__ import annotations

import json
from typing import Any

EMBED_TOKENS = 5  # usage per embedded input
PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7
HUGE_TOKENS = 10**12  # ``fake-huge``'s prompt tokens (more than a 32-bit column holds)
CREATED = 1_700_000_000


def usage(prompt: int = PROMPT_TOKENS) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": prompt + COMPLETION_TOKENS}


def completion(model: str, text: str, call: dict[str, Any] | None = None) -> dict[str, Any]:
    message = {"role": "assistant", "content": None, "tool_calls": [call]} if call else \
        {"role": "assistant", "content": text}
    return {"id": "chatcmpl-loopback", "object": "chat.completion", "created": CREATED, "model": model,
            "choices": [{"index": 0, "finish_reason": "tool_calls" if call else "stop", "message": message}],
            "usage": usage(HUGE_TOKENS if model == "fake-huge" else PROMPT_TOKENS)}


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-loopback", "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def error(message: str, type_: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": None}}


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content or ""
    return ""


def tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool call to answer with (see the module docstring), or None."""
    tools, choice = body.get("tools") or [], body.get("tool_choice")
    messages = body.get("messages") or [{}]
    if not tools or messages[-1].get("role") != "user" or not (choice == "required" or isinstance(choice, dict)):
        return None
    name = ((choice or {}).get("function") or {}).get("name") if isinstance(choice, dict) else None
    name = name or (tools[0].get("function") or {}).get("name", "")
    return {"id": f"call_{len(messages)}", "type": "function",
            "function": {"name": name, "arguments": json.dumps({"q": last_user_text(body)})}}


def answer_text(body: dict[str, Any]) -> str:
    last = (body.get("messages") or [{}])[-1]
    if isinstance(last, dict) and last.get("role") == "tool":
        content = last.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        return f"tool said: {content}"
    return "echo: " + last_user_text(body)


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    inputs = inputs if isinstance(inputs, list) else [inputs]
    data = [{"object": "embedding", "index": i, "embedding": [0.5, -0.25, float(len(str(x)) % 7), 1.0]}
            for i, x in enumerate(inputs)]
    tokens = EMBED_TOKENS * len(inputs)
    return {"object": "list", "data": data, "model": str(body.get("model", "")),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
