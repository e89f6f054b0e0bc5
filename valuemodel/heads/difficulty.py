"""Shared-difficulty head: a prompt-difficulty regressor learned from many models' outcomes,
calibrated per candidate on its profile, blended with an in-context head over the same profile.

For one candidate with profile rows (x_i, y_i):
    d_i = regressor(x_i)  (D,)                     shared difficulty scores (numpy ridge, shipped)
    (a, b) = logistic fit of y_i on d_i            a few Newton steps with a prior on b
    r_i = y_i - sigmoid(a + d_i . b)               what the profile says beyond difficulty
and for a query q:
    P_d = clip(sigmoid(a + d(q) . b) + w_knn * kNN-mean of r over q's neighbours)
    logit P = (1 - w_ctx) logit P_d + w_ctx logit P_ctx(q | profile)    (P_ctx: the ``icl`` head)
With ``blend = "stacked"`` the blend is fitted per profile instead: logit P = alpha + w_d logit P_d
+ w_ctx logit P_ctx, (alpha, w_d, w_ctx) from out-of-half predictions on the profile's own rows.

Features (B, F) are ``layers+adapter``: the masked means of every backbone layer, flattened
((L+1) H columns), then the adapter's K d columns. The difficulty part is numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..configs import DifficultyConfig  # noqa: F401  (re-exported)
from ..difficulty import CalibrationPrior, Regressor, fit_calibration, fit_logistic, logit, sigmoid
from ..neighbours import top_k
from .base import ProfileState, StatePacks, check_states

MIN_STACK_ROWS = 32  # below this a profile keeps the fixed blend


@dataclass(frozen=True)
class _Pack:
    """M fitted profiles stacked for one predict call (rows padded to the longest profile)."""

    a: np.ndarray  # (M,) calibration bias
    b: np.ndarray  # (M, D) calibration weights
    keys: np.ndarray | None  # (M, N, F') kNN keys, None without the kNN part
    r: np.ndarray  # (M, N) residuals, 0 where padded
    valid: np.ndarray  # (M, N) bool: a real profile row
    blend: np.ndarray  # (M, 3) alpha, w_d, w_ctx
    context: list  # the in-context head's states


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
        self._packs = StatePacks(lambda states: self._pack([s.data for s in states]))

    def difficulty(self, x: np.ndarray) -> np.ndarray:
        """features (B, F) -> shared difficulty scores (B, D) (higher: easier)."""
        return self.regressor(self.config.regressor_input(x), self.config.neighbours)

    def fit(self, features, scores, fingerprint: str) -> ProfileState:
        x, y = _numpy(features), _numpy(scores).astype(np.float64)
        data = self._fit_parts(x, y, fingerprint)
        if self.config.blend == "stacked" and self.context is not None and len(x) >= MIN_STACK_ROWS:
            data["blend"] = self._stack(x, y, fingerprint)
        return ProfileState(self.name, fingerprint, len(x), data)

    def predict(self, states: list[ProfileState], query) -> np.ndarray:
        check_states(states, self.name)
        query = _numpy(query)
        if not states:
            return np.zeros((0, len(query)), np.float32)
        pack = self._packs.get(states)
        pd_, pc = self._parts(pack, query)
        if pc is None:
            return pd_
        alpha, wd, wc = (pack.blend[:, i, None] for i in range(3))  # each (M, 1)
        return sigmoid(alpha + wd * logit(pd_) + wc * logit(pc)).astype(np.float32)

    def _fit_parts(self, x: np.ndarray, y: np.ndarray, fingerprint: str) -> dict:
        """Profile rows (N, F), scores (N,) -> calibration (a, b), kNN keys and residuals, and the
        in-context head's state."""
        xr = self.config.regressor_input(x)
        nb = self.config.neighbours
        d = self.regressor.cross_fitted(xr, nb) if self.config.cross_fit else self.regressor(xr, nb)  # (N, D)
        a, b = fit_calibration(d, y, self.prior)
        data = {"a": a, "b": b, "keys": self.config.knn_keys(x), "r": y - sigmoid(a + d @ b)}
        if self.context is not None:
            cols = np.ascontiguousarray(x[:, self.config.context_cols()])  # numpy: each head converts
            data["context"] = self.context.fit(cols, y.astype(np.float32), fingerprint)
        return data

    def _pack(self, datas: list[dict]) -> _Pack:
        """The fitted parts of M profiles, stacked (rows padded to the longest profile)."""
        M, N = len(datas), max(len(s["r"]) for s in datas)
        w = self.config.context_weight
        r, valid = np.zeros((M, N)), np.zeros((M, N), bool)
        keys = None if datas[0]["keys"] is None else np.zeros((M, N, datas[0]["keys"].shape[1]), np.float32)
        for m, s in enumerate(datas):
            n = len(s["r"])
            r[m, :n], valid[m, :n] = s["r"], True
            if keys is not None:
                keys[m, :n] = s["keys"]
        return _Pack(a=np.array([float(s["a"]) for s in datas]), b=np.stack([np.asarray(s["b"], np.float64) for s in datas]),
                     keys=keys, r=r, valid=valid,
                     blend=np.array([s.get("blend", (0.0, 1 - w, w)) for s in datas], np.float64),
                     context=[s["context"] for s in datas] if self.context is not None else [])

    def _parts(self, pack: _Pack, q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """-> P from difficulty + kNN (M, Q) and from the in-context head (M, Q) or None."""
        c = self.config
        d = self.difficulty(q)  # (Q, D)
        p = sigmoid(pack.a[:, None] + pack.b @ np.asarray(d, np.float64).T)  # (M, Q)
        if pack.keys is not None and c.knn_weight:
            p = p + c.knn_weight * self._knn(c.knn_keys(q), pack)
        out = np.clip(p, 1e-4, 1 - 1e-4).astype(np.float32)
        if self.context is None:
            return out, None
        cols = np.ascontiguousarray(q[:, c.context_cols()])  # all candidates in one batched pass
        return out, np.asarray(self.context.predict(pack.context, cols), np.float32)

    def _stack(self, x: np.ndarray, y: np.ndarray, fingerprint: str) -> np.ndarray:
        """Blend weights (alpha, w_d, w_ctx) for this profile: each half of its rows is predicted
        by both parts fitted on the other half, then logit y ~ alpha + w_d logit P_d + w_ctx logit
        P_ctx is fitted on those out-of-half predictions, with a prior at the fixed blend."""
        c = self.config
        half = np.random.default_rng(len(x)).permutation(len(x)) % 2  # (N,) a function of N alone
        zd, zc = np.empty(len(x)), np.empty(len(x))
        for k in (0, 1):
            pd_, pc = self._parts(self._pack([self._fit_parts(x[half != k], y[half != k], fingerprint)]), x[half == k])
            zd[half == k], zc[half == k] = logit(pd_[0]), logit(pc[0])
        Z = np.stack([np.ones(len(x)), zd, zc], 1)  # (N, 3)
        theta0 = np.array([0.0, 1 - c.context_weight, c.context_weight])
        return fit_logistic(Z, y, theta0, np.eye(3) * c.blend_precision)

    def _knn(self, q: np.ndarray, pack: _Pack) -> np.ndarray:
        """kNN mean of each profile's residuals over the query's neighbours (M, Q); padded rows
        get weight 0."""
        c = self.config
        (M, N), Q = pack.r.shape, len(q)
        sim = np.where(pack.valid[:, None, :], q @ pack.keys.transpose(0, 2, 1), -np.inf)  # (M, Q, N)
        idx, w = top_k(sim.reshape(M * Q, N), min(c.k, N), c.temperature)  # (M Q, k)
        r = np.take_along_axis(np.broadcast_to(pack.r[:, None, :], (M, Q, N)).reshape(M * Q, N), idx, 1)
        return ((w * r).sum(1) / (w.sum(1) + c.knn_prior)).reshape(M, Q)
