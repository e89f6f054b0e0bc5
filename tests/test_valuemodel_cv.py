"""DAPO-Math cross-validation is prompt-disjoint: every context row is scored once, with a
profile and a difficulty regressor that never saw its prompt."""

import numpy as np
import pandas as pd

from valuemodel import cv
from valuemodel.data import Dataset
from valuemodel.difficulty import FoldedStats, hash_projection


def tiny_dapo(n_prompts: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    pids = [f"p{i}" for i in range(n_prompts)]
    rows = [(p, f"pol{j}@{s}", float(rng.random()), "context") for p in pids for j in (0, 1) for s in (16, 64)]
    outcomes = pd.DataFrame(rows, columns=["prompt_id", "model", "score", "part"])
    ds = Dataset("dapomath", {p: p for p in pids}, {p: "dapomath" for p in pids}, outcomes)
    x = np.concatenate([np.arange(n_prompts)[:, None], rng.normal(size=(n_prompts, 5))], 1).astype(np.float32)
    return ds, cv.Features({p: i for i, p in enumerate(pids)}, x)  # column 0: the prompt's number


def test_dapo_folds_are_prompt_disjoint_for_profiles_and_regressor(monkeypatch):
    ds, feats = tiny_dapo()
    seen_by_regressor: list[set] = []
    real = cv.ridge_part

    def recording(stats, feats_, outcomes, weight, cols, sign=1.0):
        seen_by_regressor.append(set(outcomes["prompt_id"]))
        return real(stats, feats_, outcomes, weight, cols, sign)

    monkeypatch.setattr(cv, "ridge_part", recording)
    scored: list[tuple[set, set, int]] = []

    def method(px, py, pt, qx, qt, prompt_ids=(), **_):
        scored.append((set(px[:, 0].astype(int)), set(qx[:, 0].astype(int)), len(seen_by_regressor)))
        return qx[:, 1]

    cols = {"all": slice(0, 6)}
    mean, scale = feats.x.mean(0), feats.x.std(0)
    rng = np.random.default_rng(1)
    other = FoldedStats(mean, scale, hash_projection(6)).part(rng.normal(size=(50, 6)), rng.random(50), np.ones(50))
    res = cv.dapo_cv({"m": method}, feats, ds, {"all": {"other": other}}, ridge=1.0, cols=cols, folds=5, seed=3, size=1000)
    assert len(seen_by_regressor) == 5  # one regressor per fold
    for profile, query, n_fits in scored:
        assert profile and query and not profile & query
        fold_prompts = {f"p{i}" for i in query}
        assert not seen_by_regressor[n_fits - 1] & fold_prompts  # the fold's own regressor
    per_model = {}
    for _, query, _ in scored:
        for q in query:
            per_model[q] = per_model.get(q, 0) + 1
    assert sorted(per_model) == list(range(60)) and set(per_model.values()) == {4}  # 4 policies, once each
    assert set(res["m"]["per_group"]) == {"16", "64"}


def test_hash_folds_depend_on_the_prompt_only():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 32)).astype(np.float32)
    stats = FoldedStats(x.mean(0), x.std(0), hash_projection(32)).part(x, rng.random(400), np.ones(400))
    counts = [s.sw for s in stats.folds]
    assert sum(counts) == 400 and min(counts) > 40  # every fold gets a share
    again = FoldedStats(x.mean(0), x.std(0), hash_projection(32)).part(x[::-1].copy(), rng.random(400), np.ones(400))
    assert [s.sw for s in again.folds] == counts  # order does not matter


def test_oracle_others_is_defined_only_where_another_model_answered():
    """The shared-difficulty ceiling: other models' mean score on the same prompt, NaN where the
    scored model answered alone; every method is also summarised on the oracle's rows only."""
    rows = [("a", "m1", 1.0), ("a", "m2", 1.0), ("a", "m3", 0.0),
            ("b", "m1", 0.0), ("b", "m2", 0.0),
            ("c", "m1", 1.0),  # answered by m1 alone
            ("d", "m1", 0.0), ("d", "m3", 1.0)]
    ds = Dataset("toy", {p: p for p in "abcd"}, {p: "t" for p in "abcd"},
                 pd.DataFrame(rows, columns=["prompt_id", "model", "score"]))
    other = Dataset("other", {"z": "z"}, {"z": "t"}, pd.DataFrame([("z", "x1", 1.0), ("z", "x2", 0.0)],
                                                                  columns=["prompt_id", "model", "score"]))
    oracle = cv.oracle_others(other, ds)
    got = oracle(None, None, None, None, None, prompt_ids=["a", "b", "c", "d"], model="m1")
    np.testing.assert_allclose(got[[0, 1, 3]], [0.5, 0.0, 1.0])
    assert np.isnan(got[2])
    np.testing.assert_allclose(oracle(None, None, None, None, None, prompt_ids=["z"], model="x1"), [0.0])

    score = np.array([1.0, 0.0, 1.0, 0.0])
    flat = np.array([0.9, 0.1, 0.0, 0.2])  # wrong only on c, the row the oracle lacks
    res = cv.summarise({"oracle_others": {"m1": (got, score)}, "flat": {"m1": (flat, score)}})
    assert res["oracle_others"]["mean_auc"] == 0.5  # on a, b, d: 0.5 ranks the positive between
    assert res["flat"]["mean_auc"] == 0.5 and res["flat"]["oracle_rows_auc"] == 1.0
