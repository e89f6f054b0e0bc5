"""Off-policy replay of logged traffic (no I/O): re-decide every logged routed request of a policy
with :func:`router.routing.decide` (the function that made the logged decisions) from its logged
per-candidate P and expected cost, under another threshold, strategy or lambda.

What the log can tell about the replayed policy:
- its choices, their cost and their predicted quality, for every logged request (exact: the
  decision is a pure function of what was logged). Cost: the request's logged token counts at the
  chosen model's current prices (same output length assumed); the expected cost when not logged;
- its *observed* quality only where it picks the model that answered (``matched``): a biased
  estimate, since those are the requests where both policies agree;
- with exploration logged (policy ``explore`` > 0), unbiased estimates of its quality from the
  graded explored traffic: inverse propensity (IPS), mean of 1[replayed = logged] * grade /
  propensity, and doubly robust (DR), which adds V0's own P as the outcome model:
  P(replayed) + 1[replayed = logged] * (grade - P(logged)) / propensity. Both come with a 95%
  normal interval (mean +- 1.96 standard errors of the per-request terms): it misses the true
  value about 1 time in 20, more often with few explored requests or heavy weights.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.policies import Policies
from router.routing import decide
from router.store.stats_crud import Logged

Z95 = 1.959963984540054


@dataclass(frozen=True)
class ReplayPolicy:
    name: str
    candidates: Sequence[str]
    fallback: str
    threshold: float
    strategy: str
    lam: float


def _cost(row: Logged, model: str, expected: dict[str, float], policies: Policies) -> float:
    price = policies.prices.get(model)
    if price is None or row.prompt_tokens is None or row.completion_tokens is None:
        return expected[model]
    return row.prompt_tokens * price.input_per_token + row.completion_tokens * price.output_per_token


def interval(terms: Sequence[float]) -> dict[str, Any]:
    """Mean of per-request terms with its standard error and 95% normal interval."""
    x = np.asarray(terms, dtype=float)
    n = int(x.size)
    if n == 0:
        return {"n": 0, "estimate": None, "stderr": None, "ci95": None}
    mean = float(x.mean())
    if n < 2:
        return {"n": n, "estimate": mean, "stderr": None, "ci95": None}
    se = float(x.std(ddof=1)) / math.sqrt(n)
    return {"n": n, "estimate": mean, "stderr": se, "ci95": [mean - Z95 * se, mean + Z95 * se]}


def replay(rows: Iterable[Logged], target: ReplayPolicy, policies: Policies) -> dict[str, Any]:
    choices: Counter[str] = Counter()
    cost = logged_cost = predicted = 0.0
    changed = skipped = 0
    matched: list[float] = []
    ips: list[float] = []
    dr: list[float] = []
    weights: list[float] = []
    for row in rows:
        p = {c["name"]: float(c["p_success"]) for c in row.candidates}
        expected = {c["name"]: float(c["expected_cost"]) for c in row.candidates}
        if any(c not in p for c in target.candidates):
            skipped += 1  # logged before a candidate joined the policy: not re-decidable
            continue
        choice = decide(candidates=target.candidates, scores=p, costs=expected, threshold=target.threshold,
                        fallback=target.fallback, strategy=target.strategy, lam=target.lam).chosen
        choices[choice] += 1
        predicted += p[choice]
        cost += _cost(row, choice, expected, policies)
        logged_cost += _cost(row, row.chosen_model, expected, policies) if row.chosen_model in expected else 0.0
        changed += choice != row.chosen_model
        y = row.feedback_score
        if y is None or not row.ok:
            continue
        if row.answered_model == choice:
            matched.append(y)
        explored = row.explore_rate is not None and row.explore_rate > 0 and row.propensity
        if explored and row.answered_model == row.chosen_model and row.chosen_model in p:
            weight = (choice == row.chosen_model) / row.propensity
            weights.append(weight)
            ips.append(weight * y)
            dr.append(p[choice] + weight * (y - p[row.chosen_model]))
    n = sum(choices.values())
    return {
        "policy": target.name, "threshold": target.threshold, "strategy": target.strategy, "lambda": target.lam,
        "n_decisions": n,
        "skipped": skipped,
        "cost_usd": cost,
        "logged_cost_usd": logged_cost,
        "predicted_quality": predicted / n if n else None,
        "share_by_model": {m: choices[m] / n for m in target.candidates if choices[m]},
        "changed": changed,
        "observed": {"n": len(matched), "mean": float(np.mean(matched)) if matched else None,
                     "note": "graded requests where the replayed choice answered: biased toward agreement"},
        "ips": interval(ips),
        "dr": interval(dr),
        # Mean importance weight over the explored graded requests: 1 in expectation; far from 1,
        # the sample is unrepresentative of the replayed policy and the interval is optimistic.
        "weight_mean": float(np.mean(weights)) if weights else None,
    }
