"""From a typed request to a routing plan: policy lookup, routing text, scores, decision.

``resolve`` (policy lookup, request checks: 404/400), ``scored_plans`` (a batch's scores, then
each request's plan), ``decide_plan`` (expected costs and the pure decision). ``plan_request`` is the request path: scoring guarded by a
time limit, a circuit breaker and a bounded queue (``router/scoring/guard.py``), batched with the
other requests waiting for scores (``scored_plans``, ``router/scoring/batcher.py``). The threshold is
the request's override (header ``x-v0-threshold`` or body ``v0_threshold``) when given, else the
policy's spend controller's (a policy with ``target_cost_share`` or ``target_usd_per_1k``,
router/spend.py; ``observe_spend`` feeds it each answered request's cost), else the policy's. ``draw`` is the
uniform random number exploration uses (the policy's ``explore`` rate); without one
(``POST /v1/route``), or when the scores are not real, nothing is explored.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from router.scoring.cold_start import MIN_ROWS, cold_start_scores
from router.policies import Policies, PolicySpec
from router.protocol import ChatCompletionRequest, GatewayError
from router.routing import Estimate, decide, expected_cost, explore, unscored
from router.runtime import Runtime
from router.scoring import ScoreResult, routing_text
from router.scoring.base import ScoreQuery, score_batch
from router.scoring.guard import ScorerFailed, ScoringGuard
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
    threshold_source: str | None = None  # routed: "policy", "request" (override) or "spend_target"


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


@dataclass(frozen=True)
class Target:
    """A routed request before scoring: its policy, routing text, threshold and forwarded extras."""

    requested_model: str
    policy_name: str
    policy: PolicySpec
    text: str
    threshold: float
    extras: frozenset[str]
    threshold_source: str = "policy"


def resolve(req: ChatCompletionRequest, runtime: Runtime, *, threshold: float | None = None) -> Plan | Target:
    """Policy lookup and request checks (404 unknown model or policy, 400 unsupported field); an
    unrouted request (a candidate named directly) is already its plan."""
    policies = runtime.policies
    model = policies.resolve_alias(req.model)  # aliases: (policies.yaml)
    policy_name = policies.policy_name_for(model)
    text = routing_text(req.messages)
    if policy_name is None:
        if model not in policies.candidates:
            raise GatewayError(404, f"The model '{req.model}' does not exist; use 'auto', "
                               "'router/<policy>' or a candidate name (GET /v1/models).",
                               param="model", code="model_not_found")
        if policies.candidates[model].kind != "chat":
            raise GatewayError(400, f"The model '{req.model}' is an embedding model: use POST /v1/embeddings.",
                               param="model", code="wrong_model_kind")
        extras = allowed_extras(req, policies, [model])
        return Plan(new_decision_id(), req.model, None, model, text, reason="unrouted",
                    extra_params=extras)
    policy = policies.policies.get(policy_name)
    if policy is None:
        raise GatewayError(404, f"The policy '{policy_name}' does not exist (GET /v1/models).",
                           param="model", code="policy_not_found")
    extras = allowed_extras(req, policies, policy.candidates)
    controller = runtime.spend.get(policy_name)
    if threshold is not None:
        return Target(req.model, policy_name, policy, text, threshold, extras, "request")
    if controller is not None:
        return Target(req.model, policy_name, policy, text, controller.threshold, extras, "spend_target")
    return Target(req.model, policy_name, policy, text, policy.threshold, extras)


def decide_plan(req: ChatCompletionRequest, target: Target, runtime: Runtime, scored: ScoreResult,
                draw: float | None = None, *, tokens: int | None = None) -> Plan:
    """Expected costs and the decision (``unscored`` when the scores are not real), then
    exploration with ``draw``. ``tokens``: the prompt tokens when already known (else counted)."""
    policies, policy = runtime.policies, target.policy
    if tokens is None:
        tokens = count_prompt_tokens(req.upstream_messages())
    costs = {c: expected_cost(tokens, input_per_token=policies.prices[c].input_per_token,
                              output_per_token=policies.prices[c].output_per_token,
                              output_tokens=policy.expected_output_tokens)
             for c in policy.candidates}
    if scored.fallback_reason:
        decision, rate = unscored(candidates=policy.candidates, costs=costs, fallback=policy.fallback), 0.0
    else:
        decision = decide(candidates=policy.candidates, scores=cold_start(scored, costs), costs=costs,
                          threshold=target.threshold, fallback=policy.fallback,
                          strategy=policy.strategy, lam=policy.lambda_)
        rate = policy.explore if draw is not None else 0.0
        decision = explore(decision, rate=rate, draw=draw or 0.0)
    return Plan(new_decision_id(), req.model, target.policy_name, decision.chosen, target.text, decision.fallbacks,
                decision.estimates, target.threshold, decision.p_success,
                scored.fallback_reason or decision.reason, dict(scored.profile_versions), policy.strategy,
                tokens, target.extras, scored.fallback_reason, rate, decision.propensity, target.threshold_source)


def cold_start(scored: ScoreResult, costs: dict[str, float]) -> dict[str, float]:
    """The scores with a candidate that has no profile (version 0) given its cold-start prior
    (router/grading/exploration.py: the P of the profiled candidate nearest in price; with no
    candidate profiled, 0) instead of P = 0. Only candidates the scorer reports at version 0 are
    cold: a scorer that reads no profiles reports no versions and keeps its own scores."""
    versions = scored.profile_versions  # empty: a scorer that reads no profiles (the stand-in)
    rows = {c: 0 if versions.get(c, 1) == 0 else MIN_ROWS for c in scored.p_success}
    if all(rows.values()):
        return dict(scored.p_success)
    return cold_start_scores(scored.p_success, rows, costs, {})


def observe_spend(runtime: Runtime, plan: Plan, answered: str | None, cost_usd: float | None) -> None:
    """An answered routed request's cost for its policy's spend controller (if it has one). What
    the policy's strongest candidate (its fallback) would have cost is its expected cost, scaled
    by the answered candidate's realised / expected cost (the same answer length)."""
    controller = runtime.spend.get(plan.policy or "")
    if controller is None or cost_usd is None:
        return
    policy = runtime.policies.policies[plan.policy or ""]
    expected = {e.name: e.expected_cost for e in plan.estimates}
    mine = expected.get(answered or plan.chosen, 0.0)
    scale = cost_usd / mine if mine > 0 else 1.0
    controller.observe(cost=cost_usd, strongest_cost=expected.get(policy.fallback, 0.0) * scale)


@dataclass(frozen=True)
class Scoring:
    """A routed request waiting for its scores (one item of a scoring batch)."""

    req: ChatCompletionRequest
    target: Target
    runtime: Runtime
    draw: float | None = None


def scored_plans(items: Sequence[Scoring]) -> list[Plan | Exception]:
    """The scoring batch (router/scoring/batcher.py): each scorer scores its requests in one call,
    then each request is decided. A scorer's failure is that request's :class:`ScorerFailed`."""
    scored: list[ScoreResult | Exception | None] = [None] * len(items)
    by_scorer: dict[int, list[int]] = {}  # a policies reload can leave two runtimes in one batch
    for i, item in enumerate(items):
        by_scorer.setdefault(id(item.runtime.scorer), []).append(i)
    for idx in by_scorer.values():
        queries = [ScoreQuery(items[i].target.text, items[i].target.policy.candidates,
                              items[i].target.policy.profile_size) for i in idx]
        for i, result in zip(idx, score_batch(items[idx[0]].runtime.scorer, queries)):
            scored[i] = result
    out: list[Plan | Exception] = []
    for item, result in zip(items, scored):
        if isinstance(result, Exception):
            failed = ScorerFailed(str(result))
            failed.__cause__ = result
            out.append(failed)
            continue
        try:
            out.append(decide_plan(item.req, item.target, item.runtime, result, item.draw))
        except Exception as exc:  # a bug in deciding: this request's 500, not the batch's
            out.append(exc)
    return out


async def plan_request(req: ChatCompletionRequest, runtime: Runtime, guard: ScoringGuard, *,
                       threshold: float | None = None, draw: float | None = None) -> Plan:
    """The request path: scoring on the guard's pool under its time limit and breaker; without
    scores (timeout, scorer error, breaker open, queue full) the policy's fallback, saying why."""
    target = resolve(req, runtime, threshold=threshold)
    if isinstance(target, Plan):
        return target
    plan, why = await guard.run(Scoring(req, target, runtime, draw))
    if plan is not None:
        if plan.fallback_reason is None:
            guard.recent.record(target.policy_name, plan.chosen)
        return plan
    blank = ScoreResult({c: 0.0 for c in target.policy.candidates}, fallback_reason=why)
    if why == "scorer_overloaded":  # shed by the documented cheap rule, never silently the dearest
        target = replace(target, policy=target.policy.model_copy(update={"fallback": shed_choice(target, runtime, guard)}))
        guard.recent.count_shed(target.policy_name, target.policy.fallback)
    try:  # the decision's whole computation is bounded: past the limit, no token count either
        return await asyncio.wait_for(asyncio.to_thread(decide_plan, req, target, runtime, blank), guard.timeout_s)
    except TimeoutError:
        return decide_plan(req, target, runtime, blank, tokens=0)


def shed_choice(target: Target, runtime: Runtime, guard: ScoringGuard) -> str:
    """Where a request goes when the scoring queue is full: the policy's ``overload_fallback``;
    else the candidate it chose most often among its last scored decisions (ties: the cheaper by
    output price); else its ``fallback``."""
    policy = target.policy
    if policy.overload_fallback is not None:
        return policy.overload_fallback
    prices = runtime.policies.prices
    by_price = sorted(policy.candidates, key=lambda c: (prices[c].output_per_token, prices[c].input_per_token))
    return guard.recent.most_chosen(target.policy_name, by_price) or policy.fallback
