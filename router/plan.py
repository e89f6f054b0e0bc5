"""From a typed request to a routing plan: policy lookup, routing text, scores, decision.

Raises GatewayError (404) for an unknown model or policy. Pure apart from the scorer call.
The threshold is the request's override (header ``x-v0-threshold`` or body ``v0_threshold``)
when given, else the policy's. ``draw`` is the uniform random number exploration uses (the
policy's ``explore`` rate); without one (``POST /v1/route``), or when the scores are not real,
nothing is explored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from router.policies import Policies
from router.protocol import ChatCompletionRequest, GatewayError
from router.routing import Decision, Estimate, decide, expected_cost, explore
from router.runtime import Runtime
from router.scoring import routing_text
from router.upstream import count_prompt_tokens


@dataclass(frozen=True)
class Plan:
    decision_id: str
    requested_model: str
    policy: str | None  # None: a candidate named directly, forwarded unrouted
    chosen: str
    routing_text: str
    fallbacks: tuple[str, ...] = ()
    estimates: tuple[Estimate, ...] = ()
    threshold: float | None = None
    p_success: float | None = None
    reason: str | None = None
    profile_versions: dict[str, int] = field(default_factory=dict)
    strategy: str | None = None
    prompt_tokens: int | None = None
    extra_params: frozenset[str] = frozenset()  # non-OpenAI request fields forwarded upstream
    fallback_reason: str | None = None  # the scores were not real: why (see ScoreResult)
    explore_rate: float | None = None  # routed: the policy's exploration rate applied
    propensity: float | None = None  # routed: probability of this choice given the scores


def new_decision_id() -> str:
    return uuid.uuid4().hex


def allowed_extras(req: ChatCompletionRequest, policies: Policies, reachable: Sequence[str]) -> frozenset[str]:
    """The request's non-OpenAI fields, when every reachable candidate allows each; else 400."""
    extras = req.extra_fields()
    for name in extras:
        refusing = [c for c in reachable if name not in policies.candidates[c].extra_params]
        if refusing:
            raise GatewayError(400, f"Unsupported parameter {name!r}: not an OpenAI chat parameter, and "
                               f"not allowed for {', '.join(repr(c) for c in refusing)} (extra_params in "
                               "the policies file).", param=name, code="unsupported_parameter")
    return frozenset(extras)


def make_plan(req: ChatCompletionRequest, runtime: Runtime, *, threshold: float | None = None,
              draw: float | None = None) -> Plan:
    policies = runtime.policies
    policy_name = policies.policy_name_for(req.model)
    text = routing_text(req.messages)
    if policy_name is None:
        if req.model not in policies.candidates:
            raise GatewayError(404, f"The model '{req.model}' does not exist; use 'auto', "
                               "'router/<policy>' or a candidate name (GET /v1/models).",
                               param="model", code="model_not_found")
        extras = allowed_extras(req, policies, [req.model])
        return Plan(new_decision_id(), req.model, None, req.model, text, reason="unrouted",
                    extra_params=extras)
    policy = policies.policies.get(policy_name)
    if policy is None:
        raise GatewayError(404, f"The policy '{policy_name}' does not exist (GET /v1/models).",
                           param="model", code="policy_not_found")
    extras = allowed_extras(req, policies, policy.candidates)
    threshold = policy.threshold if threshold is None else threshold
    scored = runtime.scorer.score(text, policy.candidates, profile_size=policy.profile_size)
    tokens = count_prompt_tokens(req.upstream_messages())
    costs = {c: expected_cost(tokens, input_per_token=policies.prices[c].input_per_token,
                              output_per_token=policies.prices[c].output_per_token,
                              output_tokens=policy.expected_output_tokens)
             for c in policy.candidates}
    decision: Decision = decide(candidates=policy.candidates, scores=scored.p_success, costs=costs,
                                threshold=threshold, fallback=policy.fallback,
                                strategy=policy.strategy, lam=policy.lambda_)
    rate = policy.explore if draw is not None and not scored.fallback_reason else 0.0
    decision = explore(decision, rate=rate, draw=draw or 0.0)
    reason = scored.fallback_reason or decision.reason
    return Plan(new_decision_id(), req.model, policy_name, decision.chosen, text, decision.fallbacks,
                decision.estimates, threshold, decision.p_success, reason,
                dict(scored.profile_versions), policy.strategy, tokens, extras, scored.fallback_reason,
                rate, decision.propensity)
