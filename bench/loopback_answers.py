"""What the loopback upstream (bench/loopback.py) answers beyond an echo: tool calls, tool results,
embeddings."""

from __future__ import annotations

import json
from typing import Any

EMBED_TOKENS = 5  # usage per embedded input


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
