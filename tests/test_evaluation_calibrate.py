"""Reliability, ECE and threshold choice on hand-computed examples."""

import numpy as np
import pytest

from router.evaluation import calibrate
from router.evaluation.calibrate import calibrate_threshold, choose_threshold, expected_calibration_error, reliability

P = np.array([
    [0.90, 0.20, 0.60, 0.10],
    [0.95, 0.70, 0.40, 0.30],
    [0.99, 0.80, 0.90, 0.50],
])
COST = np.repeat(np.array([[1.0], [2.0], [4.0]]), 4, axis=1)
SCORE = np.array([
    [1.0, 0.0, 1.0, 0.0],
    [1.0, 1.0, 0.0, 0.0],
    [1.0, 1.0, 1.0, 0.0],
])


def test_ece_by_hand():
    p, y = [0.1, 0.2, 0.8, 0.9], [0, 1, 1, 1]
    # two bins: [0, .5): mean p .15, mean y .5; [.5, 1]: mean p .85, mean y 1 -> .5*.35 + .5*.15
    assert expected_calibration_error(p, y, n_bins=2) == pytest.approx(0.25)
    # ten bins, one point each: (.1 + .8 + .2 + .1) / 4
    assert expected_calibration_error(p, y, n_bins=10) == pytest.approx(0.3)
    assert expected_calibration_error([0.25, 0.75], [0.25, 0.75], n_bins=4) == pytest.approx(0.0)


def test_reliability_curve():
    r = reliability([0.05, 0.15, 0.95, 1.0], [0.0, 1.0, 1.0, 0.5], n_bins=2)
    assert r.count == [2, 2]
    assert r.mean_p == pytest.approx([0.10, 0.975])
    assert r.mean_outcome == pytest.approx([0.5, 0.75])
    assert r.n == 4
    assert r.ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.225)
    empty = reliability([0.1], [1.0], n_bins=3)
    assert empty.mean_p[1] is None and empty.count == [1, 0, 0]


def test_choose_threshold_for_quality_and_for_cost():
    t, c, q = [0.0, 0.5, 0.65, 1.0], [1.0, 2.0, 2.75, 4.0], [0.5, 0.75, 0.75, 0.75]
    ch = choose_threshold(t, c, q, target_quality=0.7)
    assert (ch.threshold, ch.cost, ch.quality, ch.met) == (0.5, 2.0, 0.75, True)
    ch = choose_threshold(t, c, q, target_quality=0.9)  # unreachable: best quality, cheapest
    assert (ch.threshold, ch.met) == (0.5, False)
    ch = choose_threshold(t, c, q, target_cost=2.5)
    assert (ch.threshold, ch.quality, ch.met) == (0.5, 0.75, True)
    ch = choose_threshold(t, c, q, target_cost=0.5)  # unreachable: the cheapest
    assert (ch.threshold, ch.met) == (0.0, False)
    with pytest.raises(ValueError):
        choose_threshold(t, c, q)


def test_calibrate_threshold_on_a_sweep():
    # t = 0.3 is the first threshold reaching quality .75: prompts 1 and 3 move to model 1
    ch = calibrate_threshold(P, COST, COST, SCORE, target_quality=0.75)
    assert (ch.threshold, ch.quality, ch.cost, ch.met) == (0.3, 0.75, 1.5, True)
    ch = calibrate_threshold(P, COST, COST, SCORE, target_cost=1.25)
    assert (ch.threshold, ch.quality, ch.cost) == (0.1, 0.5, 1.0)


def test_out_of_fold_never_sees_the_held_out_prompts(monkeypatch):
    import pandas as pd
    from valuemodel.data import Dataset

    ids = [f"q{i}" for i in range(10)]
    rows = [(p, m, float((i + j) % 2)) for i, p in enumerate(ids) for j, m in enumerate(["a", "b"])]
    ds = Dataset("toy", {p: p for p in ids}, {p: "t" for p in ids}, pd.DataFrame(rows, columns=["prompt_id", "model", "score"]))
    seen = []

    def fake(v0, profiles, evaluation, **kw):
        held = sorted(evaluation.prompts)
        assert not set(held) & set(profiles.prompts)
        seen.extend(held)
        return ["b", "a"], held, np.array([[1.0] * len(held), [int(h[1:]) / 10 for h in held]])

    monkeypatch.setattr(calibrate, "predict_matrix", fake)
    out = calibrate.out_of_fold(None, ds, ["a", "b"], ids, folds=3, profile_size=4, seed=0)
    assert sorted(seen) == sorted(ids)
    assert out[0].tolist() == [i / 10 for i in range(10)] and out[1].tolist() == [1.0] * 10
