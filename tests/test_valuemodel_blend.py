"""The difficulty head's stacked blend: per-profile weights for the difficulty part and the
in-context part, fitted on out-of-half predictions of the profile's own rows."""

import numpy as np

from valuemodel.configs import DifficultyConfig
from valuemodel.difficulty import Regressor, sigmoid
from valuemodel.heads.base import ProfileState
from valuemodel.heads.difficulty import MIN_STACK_ROWS, DifficultyHead
from valuemodel.metrics import auc

H = 4  # one "layer" of 4 columns, then 4 "adapter" columns the in-context part reads


class LinearContext:
    """A stand-in in-context head: P = sigmoid(gain * column 0 of its columns), or noise."""

    def __init__(self, gain: float, noise: bool = False):
        self.gain, self.noise = gain, noise

    def fit(self, x, y, fingerprint):
        return ProfileState("ctx", fingerprint, len(x))

    def predict(self, states, q):
        z = np.random.default_rng(len(q)).normal(size=len(q)) if self.noise else self.gain * q[:, 0]
        return np.tile(sigmoid(z), (len(states), 1))


def head(context, blend: str) -> DifficultyHead:
    cfg = DifficultyConfig(n_layers=1, hidden_size=H, adapter_dim=H, context_weight=0.3, blend=blend)
    coef = np.zeros((H, 1), np.float32)
    coef[0, 0] = 1.0  # d(x) = column 0
    reg = Regressor(np.zeros(H, np.float32), np.ones(H, np.float32), coef, np.zeros(1, np.float32))
    return DifficultyHead(cfg, reg, context)


def rows(n: int, seed: int, ctx_signal: float):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2 * H)).astype(np.float32)
    y = (rng.random(n) < sigmoid(1.5 * x[:, 0] + ctx_signal * x[:, H])).astype(np.float32)
    return x, y


def test_stacking_drops_an_uninformative_context_and_keeps_an_informative_one():
    x, y = rows(400, 0, ctx_signal=0.0)
    q, qy = rows(4000, 1, ctx_signal=0.0)
    noisy = LinearContext(0.0, noise=True)
    state = head(noisy, "stacked").fit(x, y, "f")
    alpha, wd, wc = state.data["blend"]
    assert abs(wc) < 0.1 and wd > 0.8
    stacked = head(noisy, "stacked").predict([state], q)[0]
    fixed_head = head(noisy, "fixed")
    fixed = fixed_head.predict([fixed_head.fit(x, y, "f")], q)[0]
    assert auc(stacked, qy) > auc(fixed, qy) + 0.02

    x, y = rows(400, 2, ctx_signal=2.0)
    _, wd, wc = head(LinearContext(2.0), "stacked").fit(x, y, "f").data["blend"]
    assert wc > 0.6  # the in-context part carries as much as the difficulty part: it keeps weight


def test_small_profiles_keep_the_fixed_blend():
    x, y = rows(MIN_STACK_ROWS - 1, 3, ctx_signal=0.0)
    h = head(LinearContext(1.0), "stacked")
    state = h.fit(x, y, "f")
    assert "blend" not in state.data
    fixed = head(LinearContext(1.0), "fixed")
    np.testing.assert_allclose(h.predict([state], x), fixed.predict([fixed.fit(x, y, "f")], x), atol=1e-6)
