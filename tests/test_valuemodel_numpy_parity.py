"""The torch-free runtime (valuemodel.infer.V0Runtime) against the torch V0 on the shipped
weights: same fingerprint, features within 1e-5, P(success) within 1e-5 for every numpy head,
over fixed prompts and the shipped profiles (real data, several windows and query kinds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROFILES = Path(__file__).resolve().parents[1] / "router" / "data" / "profiles"
TOL = 1e-5
QUERIES = [
    "hello",
    "Write a Python function that reverses a linked list IN PLACE.",
    "Ünïcödé text — with émojis 🎉 and 中文 characters, tabs\tand\nnewlines.",
    "What is 17 * 23? " * 60,  # beyond the 128-token window: the tail is kept
    "x",
    "Q: A train leaves at 3pm going 60 mph. When does it arrive 150 miles away?\nA:",
]


def _profiles() -> dict[str, tuple[list[str], list[float]]]:
    out = {}
    for path in sorted(PROFILES.glob("*.jsonl"))[:3]:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:48]
        out[path.stem] = ([r["prompt"] for r in rows], [float(r["score"]) for r in rows])
    return out


@pytest.fixture(scope="module")
def both(v0):
    from valuemodel import V0Runtime

    return v0, V0Runtime.load()


@pytest.fixture(scope="module")
def profiles():
    return _profiles()


def test_no_torch_in_the_runtime_import():
    code = ("import sys; from valuemodel import V0Runtime; v = V0Runtime.load(); v.score('hi', []); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_fingerprint_and_features_match(both, profiles):
    torch_v0, rt = both
    assert rt.fingerprint == torch_v0.fingerprint
    assert rt.feature_dim == torch_v0.feature_dim
    texts = QUERIES + [t for prompts, _ in profiles.values() for t in prompts[:8]]
    a, b = torch_v0.encode(texts).numpy(), rt.encode(texts)
    assert b.dtype == np.float32 and b.shape == a.shape
    assert np.abs(a - b).max() <= TOL


@pytest.mark.parametrize("head", ["difficulty", "icl", "knn", "noadapter"])
def test_predictions_match(both, profiles, head):
    torch_v0, rt = (m if head == "difficulty" else m.with_head(head) for m in both)
    assert rt.fingerprint == torch_v0.fingerprint
    feats = {name: torch_v0.encode(prompts).numpy() for name, (prompts, _) in profiles.items()}
    assert all(np.abs(rt.encode(profiles[n][0]) - f).max() <= TOL for n, f in feats.items())
    worst = 0.0
    for n_rows in (5, 48):  # small and larger windows; states of unequal size batched together
        states_t, states_n = [], []
        for i, (name, (_, scores)) in enumerate(profiles.items()):
            rows = n_rows - i
            states_t.append(torch_v0.fit_profile(feats[name][:rows], scores[:rows]))
            states_n.append(rt.fit_profile(feats[name][:rows], scores[:rows]))
        query = torch_v0.encode(QUERIES).numpy()
        p_t, p_n = torch_v0.predict(states_t, query), rt.predict(states_n, query)
        assert p_t.shape == p_n.shape == (len(profiles), len(QUERIES))
        worst = max(worst, float(np.abs(p_t - p_n).max()))
        s_t, s_n = torch_v0.score(QUERIES[1], states_t), rt.score(QUERIES[1], states_n)
        worst = max(worst, float(np.abs(s_t - s_n).max()))
    assert worst <= TOL, f"{head}: max |P_torch - P_numpy| = {worst:.3g}"


def test_tokenizer_matches_transformers(both):
    torch_v0, rt = both
    assert rt.backbone.token_ids(QUERIES) == torch_v0.backbone.token_ids(QUERIES)


def test_profiles_of_different_sizes_predict_together_as_alone(profiles):
    """The heads stack a call's profiles (padded to the longest, cached per list of states): each
    profile's row equals its prediction alone, and a new list of states gets its own stacking."""
    from valuemodel import V0Runtime

    rt = V0Runtime.load(threads=1)
    for v in (rt, rt.with_head("icl")):
        fitted = [v.fit_profile(v.encode(prompts[: len(prompts) - 13 * j]), scores[: len(prompts) - 13 * j])
                  for j, (prompts, scores) in enumerate(profiles.values())]  # 48, 35, 22 rows
        query = v.encode(QUERIES)
        together = v.predict(fitted, query)  # (3, Q)
        for m, state in enumerate(fitted):
            np.testing.assert_allclose(together[m], v.predict([state], query)[0], atol=2e-6)
        np.testing.assert_allclose(v.predict(fitted[::-1], query), together[::-1], atol=2e-6)


def test_both_implementations_satisfy_the_value_model_protocol(v0):
    """The gateway's one typed boundary (valuemodel/protocol.py): torch V0 and the numpy runtime."""
    from valuemodel.infer import V0Runtime
    from valuemodel.protocol import ValueModel

    runtime = V0Runtime.load()
    assert isinstance(v0, ValueModel) and isinstance(runtime, ValueModel)
    assert isinstance(v0.with_head("knn"), ValueModel) and isinstance(runtime.with_head("knn"), ValueModel)
    for model in (v0, runtime):
        feats = np.asarray(model.encode(["two plus two", "hello"]))  # (2, F)
        state = model.fit_profile(feats, [1.0, 0.0])
        assert feats.shape == (2, model.feature_dim) and model.predict([state], feats).shape == (1, 2)
