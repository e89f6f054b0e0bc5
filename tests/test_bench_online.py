"""`v0-gateway bench online` end to end on a tiny synthetic data folder, with a small
deterministic stand-in for V0 (features from the prompt's words; the head a similarity-weighted
mean of the profile's grades), so every figure is exact."""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import pytest

from router.evaluation import online

MODELS = {"cheap": 0.0001, "mid": 0.001, "strong": 0.01}  # USD per call
TASKS = ("math", "chat")


class WordV0:
    """Features: hashed bag of words (32 dims, L2-normalised). Head: each query's P is the
    mean of the profile grades weighted by exp(8 * cosine similarity)."""

    fingerprint = "word-v0"
    feature_dim = 32

    def encode(self, texts, batch_size=32):
        out = np.zeros((len(texts), 32), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.sha256(w.encode()).hexdigest(), 16) % 32] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)

    def fit_profile(self, features, scores):
        return (np.asarray(features, np.float32), np.asarray(scores, np.float32))

    def predict(self, states, query):
        q = np.asarray(query, np.float32)
        out = np.zeros((len(states), len(q)))
        for m, (x, y) in enumerate(states):
            w = np.exp(8.0 * (q @ x.T))  # (Q, N)
            out[m] = (w @ y) / w.sum(axis=1)
        return out


def outcome(model: str, task: str, i: int) -> float:
    if model == "strong":
        return 1.0
    if model == "mid":
        return float(task == "chat" or i % 3 != 0)
    return float(task == "chat" and i % 4 != 0)


def write_folder(path, ids):
    path.mkdir(parents=True)
    with (path / "prompts.jsonl").open("w") as fh:
        for i in ids:
            task = TASKS[i % 2]
            words = f"solve equation number {i % 7} sum" if task == "math" else f"hello friend chat topic {i % 5}"
            fh.write(json.dumps({"prompt_id": f"p{i}", "task": task, "prompt": f"{words} item{i}"}) + "\n")
    with (path / "outcomes.csv").open("w") as fh:
        fh.write("prompt_id,model,score,cost_usd\n")
        for i in ids:
            for m, c in MODELS.items():
                fh.write(f"p{i},{m},{outcome(m, TASKS[i % 2], i)},{c}\n")


def args(tmp_path, **kw):
    parser = argparse.ArgumentParser()
    online.add_arguments(parser)
    argv = ["--stream", str(tmp_path / "stream"), "--eval", str(tmp_path / "eval"), "--json", str(tmp_path / "out.json"),
            "--no-litellm"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return parser.parse_args(argv)


@pytest.fixture
def folders(tmp_path):
    write_folder(tmp_path / "stream", range(0, 160))
    write_folder(tmp_path / "eval", range(1000, 1040))
    return tmp_path


def test_shift_regimes_and_json_shape(folders):
    a = args(folders, initial_tasks="chat", seed_rows=12, regimes="static,bandit,shadow,full", shadow=0.3,
             seeds=2, checkpoints="0,50,200", refresh_every=10, threshold=0.7, profile_size=32, shadow_budget=0.5)
    assert online.run(a, v0=WordV0()) == 0
    out = json.loads((folders / "out.json").read_text())
    assert set(out) == {"runs", "baselines", "spend", "settings", "models", "stream_requests", "eval_prompts",
                        "cost_source", "seconds"}
    assert out["models"] == ["cheap", "mid", "strong"]
    assert out["stream_requests"] == 148 and out["eval_prompts"] == 40
    assert list(out["runs"]) == ["static", "bandit", "shadow", "full"]
    for regime, cps in out["runs"].items():
        assert [c["requests"] for c in cps] == [0, 50, 148]
        assert set(cps[0]) == {"requests", "aiq", "cost_pct_at_strongest", "stream_quality", "stream_cost_usd",
                               "grading_cost_usd", "sd"}
        assert set(cps[0]["sd"]) == {"aiq", "cost_pct_at_strongest", "stream_quality", "stream_cost_usd",
                                     "grading_cost_usd"}
        assert cps[0]["aiq"] == out["runs"]["static"][0]["aiq"]  # the same seed profiles everywhere
    # The stand-in V0 and the seeds make every figure exact (means over the 2 seeds).
    final = {r: (c[-1]["aiq"], c[-1]["stream_quality"], c[-1]["stream_cost_usd"], c[-1]["grading_cost_usd"])
             for r, c in out["runs"].items()}
    assert final == {"static": (0.495, 0.459459, 0.0148, 0.0), "bandit": (0.81083, 0.459459, 0.0148, 0.0),
                     "shadow": (0.879258, 0.533784, 0.0913, 0.0213), "full": (0.94455, 0.905405, 0.499, 1.1438)}
    assert [c["aiq"] for c in out["runs"]["full"]] == [0.495, 0.945183, 0.94455]
    assert out["spend"]["shadow"]["grading_share"] == 0.340608
    static, full = out["runs"]["static"][-1], out["runs"]["full"][-1]
    assert static["aiq"] == out["baselines"]["v0-static"]
    assert full["aiq"] > static["aiq"]  # seeded from chat only: grades on math teach the router
    assert out["runs"]["static"][-1]["grading_cost_usd"] == 0.0
    assert out["runs"]["shadow"][-1]["grading_cost_usd"] > 0.0
    assert 0 < out["spend"]["shadow"]["grading_share"] <= 0.5
    assert out["baselines"]["litellm-complexity-v2"] is None  # skipped: LiteLLM's import is slow
    assert set(out["baselines"]) == {"litellm-complexity-v2", "litellm-complexity-v2_error", "best-single-model",
                                     "v0-static"}


def test_drift_and_new_model_sections(folders):
    a = args(folders, degrade_at=40, regimes="static,bandit", seeds=1, checkpoints="0,148", refresh_every=10,
             threshold=0.7, profile_size=32, seed_rows=12, new_model="mid", new_model_rows=0)
    assert online.run(a, v0=WordV0()) == 0
    out = json.loads((folders / "out.json").read_text())
    assert set(out["drift"]) == {"static", "bandit"}
    assert set(out["drift"]["bandit"]) == {"share_101_250", "failures_1000", "sd"}
    assert [(f["seed"], f["model"], f["task"]) for f in out["drift_fault"]] == DRIFT
    assert set(out["new_model"]["bandit"]) == {"share_last_1000", "share_last_1000_known", "aiq", "aiq_known",
                                               "rows_after_100", "sd"}
    assert list(out["runs_known"]) == ["static", "bandit"]
    got = {r: (v["share_101_250"], v["failures_1000"]) for r, v in out["drift"].items()}
    assert got == DRIFT_FIGURES
    got = {r: (v["share_last_1000"], v["share_last_1000_known"]) for r, v in out["new_model"].items()}
    assert got == NEW_MODEL_FIGURES


DRIFT = [(0, "strong", "math")]  # the static router's most used model and its most asked task
# share_101_250 is None: the stream has fewer than 101 math requests after the fault
DRIFT_FIGURES = {"static": (None, 49.0), "bandit": (None, 40.0)}
NEW_MODEL_FIGURES = {"static": (0.0, 0.0), "bandit": (0.141892, 0.148649)}
