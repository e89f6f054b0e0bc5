"""Shadow-candidate choice and the cold-start prior (router/grading/exploration.py)."""

from __future__ import annotations

import random

import pytest

from router.grading.exploration import (blend_cold_start, cold_start_prior, cold_start_scores, price_tier_p, shadow_candidate,
                                        uniform_shadow_candidate)


def test_shadow_goes_to_the_least_profiled_other_candidate():
    rows = {"a": 300, "b": 12, "c": 40}
    assert shadow_candidate("a", ["a", "b", "c"], rows, random.Random(0)) == "b"
    # the chosen candidate is never its own shadow, even with the fewest rows
    assert shadow_candidate("b", ["a", "b", "c"], rows, random.Random(0)) == "c"
    # a candidate missing from the counts has 0 rows
    assert shadow_candidate("a", ["a", "b", "new"], rows, random.Random(0)) == "new"


def test_shadow_ties_are_random_and_seeded():
    rows = {"a": 5, "b": 5, "c": 5, "d": 9}
    picks = [shadow_candidate("a", ["a", "b", "c", "d"], rows, random.Random(s)) for s in range(40)]
    assert set(picks) == {"b", "c"}
    assert picks == [shadow_candidate("a", ["a", "b", "c", "d"], rows, random.Random(s)) for s in range(40)]


def test_shadow_stays_within_its_budget():
    rows = {"a": 300, "b": 0, "c": 40, "d": 50}
    costs = {"a": 0.001, "b": 0.05, "c": 0.002, "d": 0.001}
    assert shadow_candidate("a", ["a", "b", "c", "d"], rows, random.Random(0), costs=costs, budget=0.01) == "c"
    assert shadow_candidate("a", ["a", "b", "c", "d"], rows, random.Random(0), costs=costs, budget=0.0005) is None
    assert uniform_shadow_candidate("a", ["a", "b", "c"], rows, random.Random(0), costs=costs, budget=0.01) == "c"


def test_no_shadow_without_another_candidate():
    assert shadow_candidate("a", ["a"], {}, random.Random(0)) is None
    assert uniform_shadow_candidate("a", ["a"], {}, random.Random(0)) is None
    assert uniform_shadow_candidate("a", ["a", "b"], {"b": 1000}, random.Random(0)) == "b"


def test_price_tier_takes_the_nearest_price_in_log_space():
    prices = {"cheap": 0.001, "mid": 0.01, "strong": 0.1, "new": 0.02}
    profiled = {"cheap": 0.4, "mid": 0.6, "strong": 0.9}
    assert price_tier_p("new", prices, profiled) == 0.6  # log distance to mid 0.69, to strong 1.61
    assert price_tier_p("new", {**prices, "new": 0.05}, profiled) == 0.9
    assert price_tier_p("new", prices, {}) is None


def test_cold_start_prior_moves_from_the_price_tier_to_the_grades():
    prices = {"cheap": 0.001, "strong": 0.1, "new": 0.0012}
    profiled = {"cheap": 0.5, "strong": 0.9}
    assert cold_start_prior("new", prices, profiled) == 0.5
    assert cold_start_prior("new", prices, profiled, [1.0, 1.0, 1.0, 1.0]) == pytest.approx(0.75)
    assert cold_start_prior("new", prices, {}, [1.0, 0.0]) == 0.5
    assert cold_start_prior("new", prices, {}, (), default=0.1) == 0.1


def test_blend_hands_over_to_v0_as_rows_arrive():
    assert blend_cold_start(0.9, 0, 0.5) == 0.5
    assert blend_cold_start(0.9, 16, 0.5) == pytest.approx(0.7)
    assert blend_cold_start(0.9, 32, 0.5) == 0.9
    assert blend_cold_start(0.9, 500, 0.5) == 0.9


def test_cold_start_scores_touch_only_small_profiles():
    p = {"cheap": 0.4, "strong": 0.8, "new": 0.0}
    prices = {"cheap": 0.001, "strong": 0.1, "new": 0.09}
    got = cold_start_scores(p, {"cheap": 256, "strong": 256}, prices, {})
    assert got == {"cheap": 0.4, "strong": 0.8, "new": 0.8}
    got = cold_start_scores({**p, "new": 0.2}, {"cheap": 256, "strong": 256, "new": 16}, prices,
                            {"new": [0.0, 0.0, 0.0, 0.0]})
    assert got["new"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.2)


def test_the_gateway_gives_an_unprofiled_candidate_its_price_tier_prior():
    from router.plan import cold_start
    from router.scoring import ScoreResult

    costs = {"cheap": 0.001, "strong": 0.1, "new": 0.0015}
    scored = ScoreResult({"cheap": 0.7, "strong": 0.9, "new": 0.0}, {"cheap": 3, "strong": 5, "new": 0})
    assert cold_start(scored, costs) == {"cheap": 0.7, "strong": 0.9, "new": 0.7}
    profiled = ScoreResult({"cheap": 0.7, "new": 0.2}, {"cheap": 3, "new": 1})
    assert cold_start(profiled, costs) == {"cheap": 0.7, "new": 0.2}
    nobody = ScoreResult({"cheap": 0.0, "new": 0.0}, {"cheap": 0, "new": 0})
    assert cold_start(nobody, costs) == {"cheap": 0.0, "new": 0.0}  # nothing to read a tier from
