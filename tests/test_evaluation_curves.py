"""Threshold and utility rules and their sweeps, on a tiny matrix with exact outcomes."""

import numpy as np
import pytest

from router.evaluation import baselines
from router.evaluation.curves import (
    outcome,
    route_threshold,
    route_utility,
    sweep_threshold,
    sweep_utility,
    threshold_grid,
)

from evaluation_matrix import COST, P, SCORE


def test_threshold_rule_takes_cheapest_clearing_model_else_highest_p():
    assert route_threshold(P, COST, 0.5).tolist() == [0, 1, 0, 2]
    assert route_threshold(P, COST, 0.65).tolist() == [0, 1, 2, 2]
    assert route_threshold(P, COST, 0.0).tolist() == [0, 0, 0, 0]
    assert route_threshold(P, COST, 1.0).tolist() == [2, 2, 2, 2]
    assert route_threshold(P, COST, 1.0, fallback=1).tolist() == [1, 1, 1, 1]


def test_threshold_rule_orders_by_expected_not_index():
    cost = COST[[1, 0, 2]].copy()  # model 1 is now the cheapest, then model 0
    assert route_threshold(P, cost, 0.5).tolist() == [1, 1, 0, 2]


def test_utility_rule():
    # normalised costs 0.25, 0.5, 1; lambda 0.5 -> utilities worked by hand
    assert route_utility(P, COST, 0.5).tolist() == [0, 1, 0, 1]
    assert route_utility(P, COST, 0.0).tolist() == [2, 2, 2, 2]
    assert route_utility(P, COST, np.inf).tolist() == [0, 0, 0, 0]
    # exact tie (p equal) goes to the cheaper model
    assert route_utility(np.array([[0.5], [0.5]]), np.array([[2.0], [1.0]]), 0.0).tolist() == [1]


def test_outcome_means():
    assert outcome(np.array([0, 1, 0, 2]), COST, SCORE) == (2.0, 0.75)
    assert outcome(np.array([0, 1, 2, 2]), COST, SCORE) == (2.75, 0.75)


def test_threshold_sweep_exact_points():
    c = sweep_threshold(P, COST, COST, SCORE, thresholds=[0.0, 0.5, 0.65, 1.0])
    assert c.cost.tolist() == [1.0, 2.0, 2.75, 4.0]
    assert c.quality.tolist() == [0.5, 0.75, 0.75, 0.75]


def test_default_threshold_grid_spans_every_decision():
    grid = threshold_grid(P)
    assert grid[0] == P.min() and grid[-1] > P.max() and len(grid) == 12  # 11 distinct p values + one above all
    c = sweep_threshold(P, COST, COST, SCORE)
    assert c.cost[0] == 1.0 and c.cost[-1] == 4.0  # everything cheapest ... everything fallback


def test_utility_sweep_exact_points():
    c = sweep_utility(P, COST, COST, SCORE, lambdas=[0.0, 0.5, np.inf])
    assert c.cost.tolist() == [4.0, 1.5, 1.0]
    assert c.quality.tolist() == [0.75, 0.75, 0.5]


def test_oracle_reaches_cheapest_best_outcome():
    o = baselines.oracle(COST, SCORE)
    # lambda -> 0: prompt 0 -> m0, 1 -> m1, 2 -> m0, 3 (nobody succeeds) -> m0
    i = int(np.argmax(o.quality - 1e-9 * o.cost))
    assert (o.cost[i], o.quality[i]) == (1.25, 0.75)


def test_random_is_the_single_model_hull():
    mix, uniform = baselines.random_mixtures(COST, SCORE)
    assert mix.cost.tolist() == [1.0, 2.0, 4.0]
    assert mix.quality.tolist() == [0.5, 0.5, 0.75]
    assert uniform == pytest.approx((7 / 3, 1.75 / 3))


def test_tier_mappings_are_monotone_in_cost():
    tiers = np.array([0, 3, 1, 3])  # SIMPLE, REASONING, MEDIUM, REASONING
    curve, maps = baselines.tier_mappings(tiers, COST, COST, SCORE)
    assert len(maps) == 15  # multisets of size 4 from 3 models
    assert all(list(m) == sorted(m) for m in maps)
    i = maps.index((0, 0, 0, 2))  # SIMPLE, MEDIUM, COMPLEX -> m0; REASONING -> m2
    assert curve.cost[i] == pytest.approx((1 + 4 + 1 + 4) / 4)
    assert curve.quality[i] == pytest.approx((1 + 1 + 1 + 0) / 4)


def test_vectorised_rules_match_the_gateway_decision():
    from router.routing import decide

    rng = np.random.default_rng(1)
    for trial in range(40):
        m, q = 5, 30
        # coarse values so that ties in p and in cost really happen
        p = rng.integers(0, 6, size=(m, q)) / 5
        cost = rng.integers(1, 4, size=(m, q)).astype(float) / 1000
        names = [f"m{i}" for i in range(m)]
        t = float(rng.integers(0, 6) / 5)
        lam = float(rng.choice([0.0, 0.3, 1.0, 5.0]))
        fb = int(rng.integers(0, m))
        by_threshold = route_threshold(p, cost, t, fallback=fb)
        by_utility = route_utility(p, cost, lam)
        for j in range(q):
            kw = dict(candidates=names, scores=dict(zip(names, p[:, j])), costs=dict(zip(names, cost[:, j])), threshold=t, fallback=names[fb])
            assert decide(**kw).chosen == names[by_threshold[j]]
            assert decide(**kw, strategy="utility", lam=lam).chosen == names[by_utility[j]]


def test_v2_tiers_pick_the_lowest_clearing_tier():
    probs = np.array([[0.70, 0.80, 0.90, 0.95], [0.50, 0.60, 0.70, 0.80]])
    assert baselines.v2_tiers(probs, 0.75).tolist() == [1, 3]
    assert baselines.v2_tiers(probs, 0.5).tolist() == [0, 0]
    assert baselines.v2_tiers(probs, 0.99).tolist() == [3, 3]  # none clears: the top tier
