"""One request's ending: its decision row, metrics, settlement and answered-request hook.

:class:`CallRecord` ends a request exactly once: ``succeeded(result)`` (an answer) or
``failed(err, ...)`` (an upstream failure, a stream cut midway, a client that went away). The row
goes to the decision writer (off the request path), the admission is settled with the answer's
tokens and cost, and an answered call goes to the answer sinks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from router.keys import Identity
from router.plan import Plan, observe_spend
from router.runtime import Runtime
from router.protocol import ChatCompletionRequest, GatewayError
from router.serving.admission import Admission
from router.serving.answered import AnsweredCall, notify
from router.store.models import DecisionCreate
from router.upstream import UpstreamResult, count_prompt_tokens, count_text_tokens


@dataclass(frozen=True)
class Sent:
    """What the gateway sent upstream for a request."""

    surface: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    stream: bool = False
    has_tools: bool = False  # the request offered tools (or functions)

    @classmethod
    def chat(cls, surface: str, req: ChatCompletionRequest, plan: Plan) -> Sent:
        return cls(surface, req.upstream_messages(), req.upstream_params(plan.extra_params), req.stream,
                   bool(req.tools or req.functions))


class CallRecord:
    def __init__(self, state: Any, writer: Any, plan: Plan, sent: Sent, admission: Admission,
                 identity: Identity, started: float, conversation: str | None = None, *,
                 runtime: Runtime | None = None) -> None:
        self.state, self.writer, self.plan, self.sent = state, writer, plan, sent
        self.runtime = runtime  # its policies' spend controllers see each answer's cost
        self.admission, self.identity, self.started = admission, identity, started
        self.conversation = conversation  # the conversation key (affinity), recorded on the row
        self.upstream_started: float | None = None  # set when the upstream call starts
        self.done = False

    def _submit(self, **outcome: Any) -> None:
        plan, metrics = self.plan, self.state.metrics
        self.done = True
        model = outcome.get("answered_model") or plan.chosen
        metrics.requests.labels(plan.policy or "none", model, outcome["status"], self.sent.surface).inc()
        if self.upstream_started is not None:
            metrics.upstream_seconds.labels(model).observe(time.perf_counter() - self.upstream_started)
        self.writer.submit(DecisionCreate(
            id=plan.decision_id, requested_model=plan.requested_model, policy=plan.policy,
            chosen_model=plan.chosen, reason=plan.reason, threshold=plan.threshold,
            p_success=plan.p_success, stream=self.sent.stream,
            candidates=[{"name": e.name, "p_success": e.p_success, "expected_cost": e.expected_cost}
                        for e in plan.estimates],
            profile_versions=plan.profile_versions or None,
            client_key_id=self.identity.key_id, routing_text=plan.routing_text,
            explore_rate=plan.explore_rate, propensity=plan.propensity, surface=self.sent.surface,
            conversation_key=self.conversation, threshold_source=plan.threshold_source,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 3), **outcome))

    def succeeded(self, result: UpstreamResult, *, sinks: bool = True) -> None:
        """An answer: the row, the settlement, then (``sinks``: answers that can be graded) the sinks."""
        self._submit(status="ok", http_status=200, answered_model=result.answered,
                     prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                     cost_usd=result.cost_usd)
        # no usage reported: the reservation is what is known
        cost = result.cost_usd if result.cost_usd is not None else self.admission.ask.usd
        self.admission.settle(result.tokens, cost, "ok", self.plan.decision_id)
        if self.conversation is not None and getattr(self.state, "affinity", None) is not None:
            self.state.affinity.remember(self.conversation, result.answered)
        if self.runtime is not None:
            observe_spend(self.runtime, self.plan, result.answered, result.cost_usd)
        if sinks:
            notify(getattr(self.state, "answer_sinks", ()), self.answered_call(result))

    def failed(self, err: GatewayError, *, status: str | None = None, answered: str | None = None,
               http_status: int | None = None) -> None:
        default = "upstream_timeout" if err.body.code == "upstream_timeout" else "upstream_error"
        status = status or default
        self._submit(status=status, http_status=http_status or err.status, answered_model=answered,
                     error=err.body.message)
        self.admission.settle(0, 0.0, status, self.plan.decision_id)

    def closed(self, result: UpstreamResult, cost_of: Callable[[int, int], float]) -> None:
        """A stream the client closed before its end (or a JSON answer whose client had gone). The
        upstream was called, so the request is
        charged: the usage the upstream reported, else the plan's prompt tokens and the tokens of
        the answer streamed so far at the answering candidate's prices, else (nothing known) the
        admission's reservation. The row says ``client_closed`` with that cost."""
        prompt, completion, cost = result.prompt_tokens, result.completion_tokens, result.cost_usd
        if cost is None:
            prompt = self.plan.prompt_tokens if self.plan.prompt_tokens is not None else \
                count_prompt_tokens(self.sent.messages)
            completion = count_text_tokens(result.text)
            try:
                cost = cost_of(prompt, completion)
            except KeyError:  # the policies file changed since: the reservation is what is known
                cost = self.admission.ask.usd
        self._submit(status="client_closed", http_status=200, answered_model=result.answered,
                     prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost,
                     error="client closed the connection before the answer")
        self.admission.settle((prompt or 0) + (completion or 0), cost, "client_closed", self.plan.decision_id)

    def answered_call(self, result: UpstreamResult) -> AnsweredCall:
        plan, sent = self.plan, self.sent
        return AnsweredCall(
            decision_id=plan.decision_id, surface=sent.surface, policy=plan.policy,
            requested_model=plan.requested_model, chosen=plan.chosen, answered=result.answered,
            routing_text=plan.routing_text, messages=sent.messages, params=sent.params,
            answer_text=result.text, answer_tool_calls=result.tool_calls,
            has_tools=sent.has_tools, stream=sent.stream,
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            cost_usd=result.cost_usd, client_key_id=self.identity.key_id, estimates=plan.estimates,
            threshold=plan.threshold, p_success=plan.p_success)
