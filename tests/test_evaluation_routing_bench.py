"""`bench routing` and `calibrate` end to end on a tiny dataset in the shared-data format.

V0's predictions are replaced by a stand-in (a noisy copy of the true outcomes) in the tests
marked `standin`; the test marked `real_v0` runs the real value model when its weights exist.
"""

import argparse
import json

import numpy as np
import pytest

from router.evaluation import calibrate, predictions, routing_bench

MODELS = {"cheap": 1e-4, "mid": 5e-4, "strong": 2e-3}  # USD per query


def write_dataset(root, n=60, with_cost=True, seed=0, prefix="p"):
    """Two kinds of prompt: 'easy' (everyone succeeds mostly) and 'hard' (only strong)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    prompts, rows = [], []
    for i in range(n):
        kind = "easy" if i % 2 == 0 else "hard"
        text = f"What is {i} plus {i}?" if kind == "easy" else f"Prove step by step that the sequence {i} converges, then implement it in python."
        prompts.append({"prompt_id": f"{prefix}{i}", "task": kind, "split": "train", "prompt": text})
        for m, c in MODELS.items():
            p_ok = {"cheap": (0.9, 0.1), "mid": (0.95, 0.4), "strong": (0.97, 0.9)}[m][kind == "hard"]
            row = [f"{prefix}{i}", m, float(rng.random() < p_ok)]
            if with_cost:
                row.append(c * (1 + 0.1 * rng.random()))
            rows.append(row)
    (root / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    header = "prompt_id,model,score" + (",cost_usd" if with_cost else "")
    (root / "outcomes.csv").write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    if not with_cost:
        (root / "models.csv").write_text("model,usd_per_1M_in,usd_per_1M_out\ncheap,0.1,0.2\nmid,0.5,1.5\nstrong,3,12\n")
    return root


class StandInV0:
    """Predicts a noisy version of the true outcome; for tests only."""

    def __init__(self, head):
        self.head_name = head or "icl"
        self.features = "pooled" if self.head_name == "knn" else "adapter"

    def with_head(self, head):
        return StandInV0(head)


def standin_predict_matrix(v0, profiles, evaluation, *, profile_size=256, seed=0, head=None, feature_cache=None):
    assert not set(profiles.prompts) & set(evaluation.prompts), "profiles must not contain routed prompts"
    out = evaluation.outcomes
    models = sorted(out["model"].unique())
    ids = sorted(out["prompt_id"].unique())
    score = out.pivot_table(index="model", columns="prompt_id", values="score").reindex(index=models, columns=ids).to_numpy()
    rng = np.random.default_rng(seed + (7 if v0.head_name == "knn" else 0))
    noise = 0.15 if v0.head_name == "knn" else 0.05
    return models, ids, np.clip(0.1 + 0.8 * score + rng.normal(0, noise, score.shape), 0, 1)


@pytest.fixture
def standin(monkeypatch):
    monkeypatch.setattr(predictions, "load_v0", lambda weights, head: StandInV0(head))
    monkeypatch.setattr(predictions, "predict_matrix", standin_predict_matrix)
    monkeypatch.setattr(predictions, "encode_all", lambda v0, texts: {"adapter": {}, "pooled": {}})


def parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_bench_routing_end_to_end_with_standin(tmp_path, standin, capsys):
    data = write_dataset(tmp_path / "toy")
    out = tmp_path / "out"
    args = parse(routing_bench, ["--profiles", str(data), "--eval", str(data), "--profile-size", "16", "--out", str(out), "--target-quality", "0.7", "--folds", "3"])
    assert routing_bench.run(args) == 0
    res = json.loads((out / "results.json").read_text())
    r = res["routers"]
    assert {"v0", "knn", "random", "oracle", "litellm-complexity", "cheap", "mid", "strong", "v0-threshold", "v0-utility"} <= set(r)
    assert res["n_eval_prompts"] == 30 and res["strongest_model"] == "strong"
    assert "prompt-disjoint split" in res["split"] and "cost_usd" in res["cost_source"]
    # v0 is the hull over both rules: at least either rule's AIQ, reaches quality whenever either does
    assert r["v0"]["rule"] == "hull" and r["v0"]["aiq"] >= max(r["v0-threshold"]["aiq"], r["v0-utility"]["aiq"]) - 1e-12
    assert r["v0"]["best_quality"] == pytest.approx(max(r["v0-threshold"]["best_quality"], r["v0-utility"]["best_quality"]))
    pts = r["v0"]["hull_points"]
    assert pts and {pt["rule"] for pt in pts} == set(r["v0"]["hull_rules"]) <= {"threshold", "utility"}
    assert all(("threshold" in pt) if pt["rule"] == "threshold" else ("lambda" in pt) for pt in pts)
    assert [pt["cost_normalised"] for pt in pts] == sorted(pt["cost_normalised"] for pt in pts)
    # single models: AIQ = quality * (1 - normalised cost), exactly
    strong_cost = r["strong"]["mean_cost_usd"]
    for m in MODELS:
        c = r[m]["mean_cost_usd"] / max(r[x]["mean_cost_usd"] for x in MODELS)
        assert r[m]["aiq"] == pytest.approx(r[m]["best_quality"] * (1 - c))
    assert r["strong"]["cost_pct_at_strongest_quality"] == pytest.approx(100.0)
    assert r["cheap"]["quality_at_10pct"] == pytest.approx(r["cheap"]["best_quality"]) or r["cheap"]["mean_cost_usd"] > 0.1 * strong_cost
    # a near-perfect predictor beats random mixtures and cannot beat the oracle
    assert r["oracle"]["aiq"] >= r["v0"]["aiq"] > r["random"]["aiq"]
    assert r["litellm-complexity"].get("available", True) and r["litellm-complexity"]["n_mappings"] == 15
    assert r["litellm-complexity-v2"].get("available", True) and r["litellm-complexity-v2"]["aiq"] >= r["random"]["aiq"]
    cal = res["calibration"]
    assert cal["target_quality"] == 0.7 and 0.0 <= cal["threshold"] <= 1.0 and cal["cv_prompts"] == 30
    assert (out / "cost_quality.png").read_bytes()[:4] == b"\x89PNG"
    assert "| v0 |" in (out / "results.md").read_text()
    assert "| oracle |" in capsys.readouterr().out


def test_bench_routing_costs_from_prices_and_separate_dirs(tmp_path, standin):
    prof = write_dataset(tmp_path / "prof", n=20, with_cost=False, seed=1)
    ev = write_dataset(tmp_path / "ev", n=10, with_cost=False, seed=2, prefix="e")
    out = tmp_path / "out"
    from router.cli import main  # through the console script's dispatch

    assert main(["bench", "routing", "--profiles", str(prof), "--eval", str(ev), "--out", str(out), "--no-knn", "--output-tokens", "100"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_eval_prompts"] == 10 and "knn" not in res["routers"]
    assert "models.csv prices" in res["cost_source"] and "100 output tokens" in res["cost_source"]
    assert res["split"].startswith("profiles from prof")


def test_calibrate_cli_with_policies(tmp_path, standin):
    data = write_dataset(tmp_path / "toy", n=40)
    pol = tmp_path / "policies.yaml"
    pol.write_text(
        "default_policy: balanced\n"
        "candidates:\n"
        "  cheap: {model: openai/cheap, input_price: 0.1, output_price: 0.2}\n"
        "  mid: {model: openai/mid, input_price: 0.5, output_price: 1.5}\n"
        "  strong: {model: openai/strong, input_price: 3, output_price: 12}\n"
        "policies:\n"
        "  balanced: {candidates: [cheap, mid, strong], threshold: 0.6, fallback: strong}\n"
        "  duo: {candidates: [cheap, strong], threshold: 0.5, fallback: strong}\n"
    )
    out = tmp_path / "cal"
    args = parse(calibrate, ["--profiles", str(data), "--policies", str(pol), "--target-quality", "0.8", "--folds", "4", "--profile-size", "8", "--out", str(out)])
    assert calibrate.run(args) == 0
    rep = json.loads((out / "calibration.json").read_text())
    assert set(rep["policies"]) == {"balanced", "duo"}
    bal = rep["policies"]["balanced"]
    assert bal["candidates"] == ["cheap", "mid", "strong"] and bal["fallback"] == "strong" and bal["current_threshold"] == 0.6
    assert bal["n_prompts"] == 40 and set(bal["reliability"]) == {"cheap", "mid", "strong"}
    assert all(0 <= r["ece"] <= 1 and sum(r["count"]) == 40 for r in bal["reliability"].values())
    ch = bal["choice"]
    assert ch["target"] == "quality >= 0.8" and (ch["quality"] >= 0.8) == ch["met"]
    assert "policy `duo`" in (out / "calibration.md").read_text()


def _v0_available():
    try:
        from valuemodel.evaluate import encode_features, predict_matrix  # noqa: F401
        from valuemodel.model import DEFAULT_WEIGHTS
    except ImportError:
        return False
    return (DEFAULT_WEIGHTS / "config.json").exists()


@pytest.mark.skipif(not _v0_available(), reason="V0 weights or valuemodel.evaluate not available")
def test_bench_routing_cli_with_the_real_v0(tmp_path):
    from router.cli import main

    data = write_dataset(tmp_path / "toy", n=24)
    out = tmp_path / "out"
    rc = main(["bench", "routing", "--profiles", str(data), "--eval", str(data), "--profile-size", "8",
               "--out", str(out), "--target-quality", "0.6", "--folds", "2"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    r = res["routers"]
    assert r["v0"]["head"] != "knn" and r["knn"]["head"] == "knn"
    assert all(0.0 <= r[n]["aiq"] <= 1.0 for n in ("v0", "knn", "oracle", "random", "litellm-complexity"))
    assert r["oracle"]["aiq"] >= max(r[n]["aiq"] for n in ("v0", "knn", "random"))
    assert res["n_eval_prompts"] == 12 and res["calibration"]["cv_prompts"] == 12
