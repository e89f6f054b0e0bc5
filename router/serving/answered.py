"""The answered-request hook (seam (b) of ``router/serving``).

After each answered request (JSON, or a stream that ended normally) the serving layer builds one
frozen :class:`AnsweredCall` and calls ``sink.answered(call)`` for each sink in
``app.state.answer_sinks`` (a list, empty by default). A sink must return at once (queue the
call and do its work elsewhere: judge grading, shadow calls); an exception from a sink is logged
and never reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from router.routing import Estimate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnsweredCall:
    """One answered request: what was asked, what was sent upstream, what came back.
    ``messages`` and ``params`` are what the gateway sent; treat them as read-only."""

    decision_id: str
    surface: str  # chat (later: responses, messages)
    policy: str | None  # None: a candidate named directly (not routed)
    requested_model: str
    chosen: str
    answered: str  # differs from ``chosen`` after a fallback
    routing_text: str
    messages: list[dict[str, Any]]  # the chat messages sent upstream
    params: dict[str, Any]  # the chat parameters sent upstream (no model, messages, stream)
    answer_text: str
    answer_tool_calls: tuple[dict[str, Any], ...]
    has_tools: bool  # the request offered tools (or functions)
    stream: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    client_key_id: int | None
    estimates: tuple[Estimate, ...]  # the plan's candidates: name, p_success, expected_cost
    threshold: float | None
    p_success: float | None


class AnswerSink(Protocol):
    def answered(self, call: AnsweredCall) -> None: ...


def notify(sinks: Iterable[AnswerSink], call: AnsweredCall) -> None:
    for sink in sinks:
        try:
            sink.answered(call)
        except Exception:  # a sink's bug never reaches the client
            logger.exception("answer sink %r failed on decision %s", sink, call.decision_id)
