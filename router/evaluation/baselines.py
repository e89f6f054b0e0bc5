"""Baseline routers, each reduced to its (cost, quality) operating points on the eval prompts.

- each single model: one point.
- oracle: knows every outcome; the utility rule on the true scores and charged costs, swept
  over λ (λ -> 0 gives RouterBench's oracle: the cheapest model that gets the best score).
- random: sends every prompt to model m with a fixed probability w_m, whatever the prompt.
  Over all w its expected (cost, quality) fills the convex hull of the single models, so its
  curve is the non-decreasing hull of the single-model points (RouterBench's "zero router").
  The expected point of a uniform choice is reported beside it.
- knn: V0's kNN head (V0.load(head="knn")) under the same rules as V0 (see routing_bench).
- litellm-complexity: LiteLLM's ComplexityRouter with its default rule-based classifier
  (classifier_type "heuristic", no network) puts each prompt in one of four tiers,
  SIMPLE < MEDIUM < COMPLEX < REASONING. LiteLLM leaves the tier -> model mapping to the
  operator; the most favourable sensible one is taken: every mapping that never gives a harder
  tier a cheaper model (models ordered by expected cost) is one operating point, and the curve
  is their hull. This picks the mapping on the evaluation prompts themselves, which favours
  the baseline. A constant mapping is a single model, so this curve is never below random's.
- litellm-complexity-v2: the same router with `classifier_type: heuristic_v2` (tier success
  probabilities from LiteLLM's bundled UltraFeedback statistics), every success threshold it can
  distinguish times every monotone mapping; also local.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from router.evaluation.curves import Curve, lambda_grid, sweep_utility

COMPLEXITY_TIERS = ("SIMPLE", "MEDIUM", "COMPLEX", "REASONING")


def single_models(cost: np.ndarray, score: np.ndarray, models: Sequence[str]) -> dict[str, tuple[float, float]]:
    """name -> (mean cost, mean quality)."""
    return {m: (float(cost[i].mean()), float(score[i].mean())) for i, m in enumerate(models)}


def oracle(cost: np.ndarray, score: np.ndarray) -> Curve:
    c = sweep_utility(score, cost, cost, score, lambdas=lambda_grid())
    return Curve("oracle-lambda", c.values, c.cost, c.quality)


def random_mixtures(cost: np.ndarray, score: np.ndarray) -> tuple[Curve, tuple[float, float]]:
    """The single-model points (their hull is the random router's curve) and the uniform point."""
    c, q = cost.mean(axis=1), score.mean(axis=1)
    return Curve("mixture", np.arange(len(c), dtype=float), c, q), (float(c.mean()), float(q.mean()))


def _complexity_router(classifier_type: str):
    """LiteLLM's ComplexityRouter, built the way its proxy builds it, tiers pointing at
    placeholder deployments (nothing is ever called)."""
    from router.litellm_setup import litellm_module

    litellm = litellm_module()
    from litellm.router_api import RoutingContext
    from litellm.router_strategy.complexity_router import ComplexityRouter

    names = [f"tier-{t.lower()}" for t in COMPLEXITY_TIERS]
    owner = litellm.Router(
        model_list=[
            {"model_name": n, "litellm_params": {"model": f"openai/{n}", "api_base": "http://127.0.0.1:9", "api_key": "unused"}}
            for n in names
        ]
    )
    return ComplexityRouter(
        model_name="litellm-complexity",
        ctx=RoutingContext(owner),
        complexity_router_config={"classifier_type": classifier_type, "tiers": dict(zip(COMPLEXITY_TIERS, names))},
    )


def complexity_tiers(texts: Sequence[str]) -> np.ndarray:
    """Tier index (0..3) per text from the default rule-based classifier (`heuristic`)."""
    router = _complexity_router("heuristic")
    index = {t: i for i, t in enumerate(COMPLEXITY_TIERS)}
    return np.array([index[router.classify(t)[0].value] for t in texts], dtype=int)


def complexity_v2_probabilities(texts: Sequence[str]) -> np.ndarray:
    """(Q, 4) P(success) per tier from LiteLLM's `heuristic_v2` classifier (its bundled
    UltraFeedback statistics; local). It routes to the lowest tier whose P clears its
    `heuristic_v2_success_threshold`, else the top tier."""
    router = _complexity_router("heuristic_v2")
    out = np.empty((len(texts), len(COMPLEXITY_TIERS)))
    for i, t in enumerate(texts):
        probs = router._classify_with_heuristic_v2(t).heuristic_v2_forecast["probabilities"]
        out[i] = [probs[name] for name in COMPLEXITY_TIERS]
    return out


def v2_tiers(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Tier index per prompt for one success threshold (lowest tier clearing it, else the top)."""
    clears = probs >= threshold  # (Q, 4)
    return np.where(clears.any(axis=1), np.argmax(clears, axis=1), len(COMPLEXITY_TIERS) - 1)


def complexity_v2_points(texts: Sequence[str], expected: np.ndarray, cost: np.ndarray,
                         score: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Every success threshold heuristic_v2 distinguishes x every monotone tier -> model mapping:
    (costs, qualities, number of thresholds); the curve is their hull."""
    probs = complexity_v2_probabilities(texts)
    ts = np.unique(probs)
    ts = np.append(ts, np.nextafter(ts[-1], np.inf))
    pc, pq = [], []
    for t in ts:
        curve, _ = tier_mappings(v2_tiers(probs, t), expected, cost, score)
        pc.append(curve.cost)
        pq.append(curve.quality)
    return np.concatenate(pc), np.concatenate(pq), int(len(ts))


def tier_mappings(tiers: np.ndarray, expected: np.ndarray, cost: np.ndarray, score: np.ndarray) -> tuple[Curve, list[tuple[int, ...]]]:
    """One operating point per monotone tier -> model mapping (models sorted by mean expected
    cost). Returns the curve (knob value = mapping number) and the mappings as model indices."""
    n_tiers = len(COMPLEXITY_TIERS)
    order = np.argsort(expected.mean(axis=1), kind="stable")  # cheapest first
    q_count = score.shape[1]
    # Per tier: summed cost and score of sending all of that tier's prompts to each model.
    member = np.stack([tiers == k for k in range(n_tiers)])  # (T, Q)
    tier_cost = member.astype(float) @ cost.T  # (T, M)
    tier_score = member.astype(float) @ score.T  # (T, M)
    maps, costs, quals = [], [], []
    for combo in itertools.combinations_with_replacement(range(len(order)), n_tiers):
        models = tuple(int(order[j]) for j in combo)  # non-decreasing in expected cost
        maps.append(models)
        costs.append(sum(tier_cost[k, m] for k, m in enumerate(models)) / q_count)
        quals.append(sum(tier_score[k, m] for k, m in enumerate(models)) / q_count)
    return Curve("tier-mapping", np.arange(len(maps), dtype=float), np.array(costs), np.array(quals)), maps
