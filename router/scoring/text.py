"""Which text is scored for a request (the routing text).

Routing text: the system/developer messages plus the last user message, joined by blank
lines (text parts only). V0's backbone reads at most its window (128 tokens for the shipped
weights) and keeps the *tail*, i.e. the end of the last user message.
"""

from __future__ import annotations

from collections.abc import Sequence

from router.protocol import ChatMessage


def message_text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    if isinstance(message.content, list):
        return "\n".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
    return ""


def routing_text(messages: Sequence[ChatMessage]) -> str:
    """System/developer prompts plus the last user message, in that order."""
    system = [message_text(m) for m in messages if m.role in ("system", "developer")]
    last_user = next((message_text(m) for m in reversed(messages) if m.role == "user"), "")
    return "\n\n".join(t for t in [*system, last_user] if t.strip())
