"""The typed result of an upstream call (built by router/upstream.py from LiteLLM's answer).

:class:`UpstreamResult`: answered model, usage, cost, latency, error, fallback used, the answer's
text and tool calls. :class:`UpstreamStream` yields a stream's chunks as dicts and assembles the
same result from them; the cost of a JSON answer and of a stream comes from one function (the
candidate's prices, ``Upstream.cost``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from router.protocol import GatewayError

logger = logging.getLogger(__name__)

CostFn = Callable[[str, int, int], float]  # (candidate, prompt tokens, completion tokens) -> USD


@dataclass(frozen=True)
class UpstreamResult:
    """One upstream call, typed: what serving needs for the decision row, limits, metrics, sinks."""

    answered: str  # the candidate whose deployment answered (``chosen`` unless a fallback did)
    chosen: str
    latency_s: float  # call start to the answer (streams: to the last chunk)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None  # None when the upstream reported no usage
    text: str = ""  # the answer's text (first choice; streams: assembled from the chunks)
    tool_calls: tuple[dict[str, Any], ...] = ()  # the answer's tool calls (streams: assembled)
    finish_reason: str | None = None
    error: GatewayError | None = None  # set when the call (or the stream) failed

    @property
    def fallback_used(self) -> bool:
        return self.answered != self.chosen

    @property
    def tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


@dataclass(frozen=True)
class UpstreamReply:
    body: dict[str, Any]  # the chat.completion object, ``model`` = the answering candidate
    result: UpstreamResult


@dataclass
class Answer:
    """A first choice's text and tool calls, from a message or from stream deltas."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish: str | None = None

    def add(self, delta: dict[str, Any], finish: str | None) -> None:
        if isinstance(delta.get("content"), str):
            self.text.append(delta["content"])
        for i, call in enumerate(delta.get("tool_calls") or []):
            slot = self.calls.setdefault(call.get("index", i), {"type": "function", "function": {"arguments": ""}})
            if call.get("id"):
                slot["id"] = call["id"]
            fn = call.get("function") or {}
            if fn.get("name"):
                slot["function"]["name"] = fn["name"]
            slot["function"]["arguments"] += fn.get("arguments") or ""
        self.finish = finish or self.finish

    def result(self, cost_of: CostFn, answered: str, chosen: str, started: float,
               usage: dict[str, Any] | None, error: GatewayError | None = None) -> UpstreamResult:
        prompt = usage.get("prompt_tokens") if usage else None
        completion = usage.get("completion_tokens") if usage else None
        cost = cost_of(answered, prompt or 0, completion or 0) if usage else None
        return UpstreamResult(answered, chosen, time.perf_counter() - started, prompt, completion, cost,
                              "".join(self.text), tuple(self.calls[i] for i in sorted(self.calls)),
                              self.finish, error)


class UpstreamStream:
    """A streamed answer: ``chunks()`` yields each chunk as a dict (``model`` = the answering
    candidate) and raises GatewayError if the stream fails midway; ``result()`` is the typed
    result so far (usage and cost once the stream has ended)."""

    def __init__(self, chunks: AsyncIterator[Any], answered: str, chosen: str, started: float, *,
                 cost: CostFn, to_error: Callable[[Exception], GatewayError]) -> None:
        self._chunks, self._started, self._cost, self._to_error = chunks, started, cost, to_error
        self.answered, self.chosen = answered, chosen
        self._answer = Answer()
        self._usage: dict[str, Any] | None = None
        self._error: GatewayError | None = None

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for chunk in self._chunks:
                data = chunk.model_dump(exclude_none=True)
                data["model"] = self.answered
                if data.get("usage"):
                    self._usage = data["usage"]
                for choice in data.get("choices") or []:
                    if choice.get("index", 0) == 0:
                        self._answer.add(choice.get("delta") or {}, choice.get("finish_reason"))
                yield data
        except Exception as exc:
            logger.warning("stream from %s failed midway", self.answered, exc_info=exc)
            self._error = exc if isinstance(exc, GatewayError) else self._to_error(exc)
            raise self._error from exc

    def cost_of(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What ``prompt_tokens`` and ``completion_tokens`` cost at the answering candidate's prices."""
        return self._cost(self.answered, prompt_tokens, completion_tokens)

    def result(self) -> UpstreamResult:
        return self._answer.result(self._cost, self.answered, self.chosen, self._started, self._usage, self._error)
