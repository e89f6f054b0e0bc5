"""Shared-difficulty head: a prompt-difficulty regressor learned from many models' outcomes,
calibrated per candidate on its profile, blended with an in-context head over the same profile.

For one candidate with profile rows (x_i, y_i):
    d_i = regressor(x_i)  (D,)                     shared difficulty scores (numpy ridge, shipped)
    (a, b) = logistic fit of y_i on d_i            a few Newton steps with a prior on b
    r_i = y_i - sigmoid(a + d_i . b)               what the profile says beyond difficulty
and for a query q:
    P_d = clip(sigmoid(a + d(q) . b) + w_knn * kNN-mean of r over q's neighbours)
    logit P = (1 - w_ctx) logit P_d + w_ctx logit P_ctx(q | profile)    (P_ctx: the ``icl`` head)

Features (B, F) are ``layers+adapter``: the masked means of every backbone layer, flattened
((L+1) H columns), then the adapter's K d columns. The difficulty part is numpy only.
"""

from __future__ import annotations

import numpy as np

from ..configs import DifficultyConfig  # noqa: F401  (re-exported)
from ..difficulty import CalibrationPrior, Regressor, fit_calibration, logit, sigmoid
from .base import ProfileState, check_states


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float32) if hasattr(x, "detach") else np.asarray(x, np.float32)


class DifficultyHead:
    name = "difficulty"

    def __init__(self, config: DifficultyConfig, regressor: Regressor, context=None):
        """``context``: the head named by ``config.context`` (fit/predict over its columns)."""
        if config.context != "none" and context is None:
            raise ValueError(f"the difficulty head blends in {config.context!r}: pass that head")
        self.config = config
        self.regressor = regressor
        self.context = context if config.context != "none" else None
        self.prior = CalibrationPrior(config.slope, config.slope_precision, config.bias_precision)

    def difficulty(self, x: np.ndarray) -> np.ndarray:
        """features (B, F) -> shared difficulty scores (B, D) (higher: easier)."""
        return self.regressor(self.config.regressor_input(x))

    def fit(self, features, scores, fingerprint: str) -> ProfileState:
        x, y = _numpy(features), _numpy(scores).astype(np.float64)
        xr = self.config.regressor_input(x)
        d = self.regressor.cross_fitted(xr) if self.config.cross_fit else self.regressor(xr)  # (N, D)
        a, b = fit_calibration(d, y, self.prior)
        data = {"a": a, "b": b, "keys": self.config.knn_keys(x), "r": y - sigmoid(a + d @ b)}
        if self.context is not None:
            cols = np.ascontiguousarray(x[:, self.config.context_cols()])  # numpy: each head converts
            data["context"] = self.context.fit(cols, y.astype(np.float32), fingerprint)
        return ProfileState(self.name, fingerprint, len(x), data)

    def predict(self, states: list[ProfileState], query) -> np.ndarray:
        check_states(states, self.name)
        c = self.config
        q = _numpy(query)
        d = self.difficulty(q)  # (Q,)
        qk = c.knn_keys(q)  # (Q, F') or None
        out = np.empty((len(states), len(q)), dtype=np.float32)
        for m, s in enumerate(states):
            p = sigmoid(s.data["a"] + d @ s.data["b"])  # (Q,)
            if qk is not None and c.knn_weight:
                p = p + c.knn_weight * self._knn(qk, s.data["keys"], s.data["r"])
            out[m] = np.clip(p, 1e-4, 1 - 1e-4)
        if self.context is not None:  # all candidates in one batched pass
            cols = np.ascontiguousarray(q[:, c.context_cols()])
            pc = self.context.predict([s.data["context"] for s in states], cols)  # (M, Q)
            out = sigmoid((1 - c.context_weight) * logit(out) + c.context_weight * logit(pc)).astype(np.float32)
        return out

    def _knn(self, q: np.ndarray, keys: np.ndarray, r: np.ndarray) -> np.ndarray:
        c = self.config
        sim = q @ keys.T  # (Q, N)
        k = min(c.k, sim.shape[1])
        idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # (Q, k)
        top = np.take_along_axis(sim, idx, 1)
        w = np.exp((top - top.max(1, keepdims=True)) / c.temperature)  # (Q, k)
        return (w * r[idx]).sum(1) / (w.sum(1) + c.knn_prior)  # (Q,)
