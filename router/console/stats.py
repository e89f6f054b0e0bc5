"""``GET /admin/stats`` figures from the decision log's totals (no I/O here).

- ``cost_usd``: the logged actual cost (LiteLLM's; a request without one counts 0).
- ``baseline_cost_usd``: what the same requests would have cost on their policy's ``fallback``
  (the policy's safe, usually flagship, model): the logged prompt and completion token counts at
  the fallback's current prices. Requests without both counts (failures), unrouted requests and
  requests of a policy no longer in the file count at their logged cost, so they add no saving.
- ``judge_cost_usd`` / ``shadow_cost_usd``: the learning loop's spend (grading log): judge
  calls, and the shadow answers; ``savings_usd`` is net of both (baseline - cost - judge - shadow).
- ``calibration``: per answering model, over its graded routed answers (a human grade, else the
  judge's): mean logged P, mean grade, ECE (10 equal-width bins), and ``drift`` when |observed - predicted| exceeds the
  Hoeffding bound sqrt(ln(2 / 0.05) / (2 n)): with grades in [0, 1] and a calibrated model, the
  gap exceeds it with probability at most 5% (for any n; conservative, so a flag means drift).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.console.reliability import reliability
from router.policies import Policies
from router.store.stats_crud import Graded, GradingSpend, Traffic

DRIFT_CONFIDENCE = 0.95


def hoeffding_bound(n: int, confidence: float = DRIFT_CONFIDENCE) -> float:
    """Half-width within which the mean of n independent [0, 1] outcomes stays of its expectation."""
    return math.sqrt(math.log(2 / (1 - confidence)) / (2 * n))


def baseline_cost(group: Traffic, policies: Policies) -> float:
    policy = policies.policies.get(group.policy) if group.policy is not None else None
    if policy is None:
        return group.cost_usd
    price = policies.prices[policy.fallback]
    on_fallback = group.prompt_tokens * price.input_per_token + group.completion_tokens * price.output_per_token
    return on_fallback + group.cost_usd - group.priced_cost_usd


@dataclass
class _Sum:
    requests: int = 0
    errors: int = 0
    graded: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0

    def add(self, group: Traffic, baseline: float) -> None:
        self.requests += group.requests
        self.errors += 0 if group.ok else group.requests
        self.graded += group.graded
        self.cost_usd += group.cost_usd
        self.baseline_cost_usd += baseline


def calibration(graded: Iterable[Graded]) -> dict[str, dict[str, Any]]:
    by_model: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for g in graded:
        if g.p_success is not None:
            by_model[g.model].append((g.p_success, g.score))
    out = {}
    for model in sorted(by_model):
        p, y = np.array(by_model[model]).T  # (2, N)
        bound = hoeffding_bound(len(p))
        predicted, observed = float(p.mean()), float(y.mean())
        out[model] = {"n": int(len(p)), "predicted_mean": predicted, "observed_mean": observed,
                      "ece": reliability(p, y).ece, "bound": bound, "drift": abs(observed - predicted) > bound}
    return out


def summarize(traffic: list[Traffic], graded: list[Graded], policies: Policies,
              grading: GradingSpend = GradingSpend(0.0, 0.0)) -> dict[str, Any]:
    total = _Sum()
    series: dict[str, _Sum] = defaultdict(_Sum)
    models: dict[str, _Sum] = defaultdict(_Sum)
    surfaces: dict[str, _Sum] = defaultdict(_Sum)
    for group in traffic:
        baseline = baseline_cost(group, policies)
        for s in (total, series[group.bucket], models[group.model], surfaces[group.surface]):
            s.add(group, baseline)
    return {
        "requests": total.requests,
        "errors": total.errors,
        "cost_usd": total.cost_usd,
        "baseline_cost_usd": total.baseline_cost_usd,
        "judge_cost_usd": grading.judge_usd,
        "shadow_cost_usd": grading.shadow_usd,
        "savings_usd": total.baseline_cost_usd - total.cost_usd - grading.judge_usd - grading.shadow_usd,
        "by_model": {name: {"requests": s.requests, "share": s.requests / total.requests, "cost_usd": s.cost_usd}
                     for name, s in sorted(models.items())},
        "by_surface": {name: {"requests": s.requests, "errors": s.errors, "cost_usd": s.cost_usd}
                       for name, s in sorted(surfaces.items())},
        "graded": total.graded,
        "calibration": calibration(graded),
        "series": [{"start": start, "requests": s.requests, "errors": s.errors, "cost_usd": s.cost_usd,
                    "baseline_cost_usd": s.baseline_cost_usd} for start, s in sorted(series.items())],
    }
