"""Reliability, ECE and threshold choice on hand-computed examples."""

import numpy as np
import pytest

from router.evaluation import calibrate, predictions
from router.evaluation.thresholds import calibrate_threshold, choose_threshold, expected_calibration_error, reliability

from evaluation_matrix import COST, P, SCORE


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

    monkeypatch.setattr(predictions, "predict_matrix", fake)
    out = predictions.out_of_fold(None, ds, ["a", "b"], ids, folds=3, profile_size=4, seed=0)
    assert sorted(seen) == sorted(ids)
    assert out[0].tolist() == [i / 10 for i in range(10)] and out[1].tolist() == [1.0] * 10


def _decision_db(tmp_path):
    """A gateway decision table (the gateway's own SQLModel table) with graded decisions."""
    from sqlmodel import Session, SQLModel, create_engine

    from router.store.models import Decision

    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine, tables=[Decision.__table__])
    # (p_cheap, p_strong, answered, feedback, threshold); costs: cheap 1, strong 10
    logged = [(0.9, 0.95, "cheap", 1.0, 0.5), (0.8, 0.9, "cheap", 1.0, 0.5), (0.3, 0.9, "strong", 1.0, 0.5),
              (0.2, 0.8, "strong", 0.0, 0.5), (0.25, 0.95, "cheap", 0.0, 0.2)]
    with Session(engine) as s:
        for i, (pc, ps, ans, y, t) in enumerate(logged):
            s.add(Decision(id=f"d{i}", requested_model="router/p", policy="p", chosen_model=ans, answered_model=ans,
                           reason="cheapest_above_threshold", threshold=t, p_success=pc if ans == "cheap" else ps,
                           candidates=[{"name": "cheap", "p_success": pc, "expected_cost": 1.0},
                                       {"name": "strong", "p_success": ps, "expected_cost": 10.0}],
                           status="ok", cost_usd=1.0 if ans == "cheap" else 10.0, feedback_score=y))
        s.add(Decision(id="ungraded", requested_model="router/p", policy="p", chosen_model="cheap", answered_model="cheap",
                       candidates=[], status="ok"))
        s.commit()
    engine.dispose()
    return url


def test_calibrate_from_logged_decisions(tmp_path):
    from router.evaluation.decision_log import calibrate_policy, read_rows

    rows = read_rows(_decision_db(tmp_path))
    assert len(rows) == 5  # the ungraded decision is left out
    # isotonic calibration per model: cheap (.25,0) (.8,1) (.9,1); strong (.8,0) (.9,1).
    # t = 0.8 keeps prompts 1-2 on cheap (observed 1, 1) and moves the rest to strong:
    # observed 1 and 0, and prompt 5 by strong's calibrated p(.95) = 1 -> quality 4/5, cost 32/5.
    rep = calibrate_policy(rows, target_quality=0.8, min_rows=1)
    ch = rep["choice"]
    assert (ch["threshold"], ch["met"]) == (0.8, True)
    assert ch["quality"] == pytest.approx(0.8) and ch["cost"] == pytest.approx(6.4)
    assert rep["answered"] == {"cheap": 3, "strong": 2}
    assert rep["reliability"]["strong"]["ece"] == pytest.approx(0.5 * (0.1 + 0.8) / 1)  # bins: .8->0, .9->1
    # with too few rows per model the raw p is used: prompt 5 counts .95 and .8 is not reached
    raw = calibrate_policy(rows, target_quality=0.8)["choice"]
    assert (raw["threshold"], raw["met"]) == (0.8, False) and raw["quality"] == pytest.approx(0.79)


def test_calibrate_cli_from_decisions(tmp_path, monkeypatch, capsys):
    import argparse
    import json

    url = _decision_db(tmp_path)
    monkeypatch.setenv("V0_DATABASE_URL", url)
    parser = argparse.ArgumentParser()
    calibrate.add_arguments(parser)
    args = parser.parse_args(["--decisions", "--target-cost", "5", "--out", str(tmp_path / "o")])
    assert calibrate.run(args) == 0
    rep = json.loads((tmp_path / "o" / "calibration.json").read_text())
    assert rep["source"] == "decisions" and rep["policies"]["p"]["choice"]["cost"] <= 5
    assert "policy `p`" in capsys.readouterr().out
