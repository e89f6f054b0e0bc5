"""The routing decision: a pure function of (scores, expected costs, policy). No I/O.

Rules (``strategy: threshold``, the default):
1. A candidate *clears* when its P(success) >= the policy threshold.
2. The choice is the cheapest clearing candidate by expected cost; ties go to the higher P,
   then to the earlier candidate in the policy's list.
3. When none clears, the choice is the policy's ``fallback``.
4. Every other candidate becomes a ranked fallback for LiteLLM: clearing candidates by
   expected cost, then the policy's fallback, then the rest by P (highest first).

``strategy: utility`` chooses the maximum of ``p - lambda * cost / max_cost`` (ties: cheaper,
then earlier); fallbacks follow by the same utility.

Exploration (:func:`explore`, a policy's ``explore`` rate e): with probability e the choice is a
candidate drawn uniformly from the policy's M candidates. The random number is an input, so the
function stays pure. The logged *propensity* is the probability of the choice made, given the
scores: e/M + (1 - e) for the decision's own choice, e/M for any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Reason = Literal["cheapest_above_threshold", "fallback_none_above_threshold", "max_utility", "explore"]


@dataclass(frozen=True)
class Estimate:
    name: str
    p_success: float
    expected_cost: float  # USD


@dataclass(frozen=True)
class Decision:
    chosen: str
    reason: Reason
    fallbacks: tuple[str, ...]
    estimates: tuple[Estimate, ...]  # every candidate, in policy order
    propensity: float = 1.0  # probability that the policy makes this choice for these scores

    @property
    def p_success(self) -> float:
        return next(e.p_success for e in self.estimates if e.name == self.chosen)


def expected_cost(prompt_tokens: int, *, input_per_token: float, output_per_token: float,
                  output_tokens: int) -> float:
    """USD for a request of ``prompt_tokens`` that answers with ``output_tokens``."""
    return prompt_tokens * input_per_token + output_tokens * output_per_token


def decide(*, candidates: Sequence[str], scores: Mapping[str, float], costs: Mapping[str, float],
           threshold: float, fallback: str, strategy: str = "threshold", lam: float = 0.5) -> Decision:
    if not candidates:
        raise ValueError("no candidates")
    missing = [c for c in candidates if c not in scores or c not in costs]
    if missing:
        raise ValueError(f"no score or cost for {missing}")
    if fallback not in candidates:
        raise ValueError(f"fallback {fallback!r} is not a candidate")
    order = {name: i for i, name in enumerate(candidates)}
    estimates = tuple(Estimate(c, float(scores[c]), float(costs[c])) for c in candidates)

    if strategy == "utility":
        top = max(e.expected_cost for e in estimates) or 1.0
        ranked = sorted(estimates, key=lambda e: (-(e.p_success - lam * e.expected_cost / top),
                                                  e.expected_cost, order[e.name]))
        names = [e.name for e in ranked]
        return Decision(names[0], "max_utility", tuple(names[1:]), estimates)
    if strategy != "threshold":
        raise ValueError(f"unknown strategy {strategy!r}")

    clearing = sorted((e for e in estimates if e.p_success >= threshold),
                      key=lambda e: (e.expected_cost, -e.p_success, order[e.name]))
    rest = sorted((e for e in estimates if e.p_success < threshold),
                  key=lambda e: (-e.p_success, order[e.name]))
    if clearing:
        chosen, reason = clearing[0].name, "cheapest_above_threshold"
        ranked = [e.name for e in clearing[1:]]
        if fallback != chosen and fallback not in ranked:
            ranked.append(fallback)
        ranked += [e.name for e in rest if e.name not in ranked]
    else:
        chosen, reason = fallback, "fallback_none_above_threshold"
        ranked = [e.name for e in rest if e.name != fallback]
    return Decision(chosen, reason, tuple(ranked), estimates)


def unscored(*, candidates: Sequence[str], costs: Mapping[str, float], fallback: str) -> Decision:
    """No scores to decide on (the scorer failed, timed out, or has no profiles): the policy's
    fallback, then the other candidates in policy order. Every P is reported as 0. The plan
    records why in its reason."""
    estimates = tuple(Estimate(c, 0.0, float(costs[c])) for c in candidates)
    return Decision(fallback, "fallback_none_above_threshold", tuple(c for c in candidates if c != fallback),
                    estimates)


def explore(decision: Decision, *, rate: float, draw: float) -> Decision:
    """``decision`` under exploration at ``rate``; ``draw`` is a uniform number in [0, 1).

    ``draw < rate`` explores: candidate ``floor(draw / rate * M)`` answers (uniform over the M
    candidates), reason ``explore``, and the decision's own ranking follows as fallbacks."""
    if not 0 <= rate <= 1 or not 0 <= draw < 1:
        raise ValueError(f"rate must be in [0, 1] and draw in [0, 1), got {rate}, {draw}")
    if rate == 0:
        return decision
    names = [e.name for e in decision.estimates]
    chosen, reason = decision.chosen, decision.reason
    if draw < rate:
        chosen, reason = names[min(int(draw / rate * len(names)), len(names) - 1)], "explore"
    propensity = rate / len(names) + (1 - rate) * (chosen == decision.chosen)
    ranked = tuple(n for n in (decision.chosen, *decision.fallbacks) if n != chosen)
    return Decision(chosen, reason, ranked, decision.estimates, propensity)
