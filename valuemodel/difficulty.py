"""Shared prompt difficulty: a ridge regressor from every-layer pooled features to the mean
score that the training models reach on a prompt (soft labels), and the per-profile
calibration ``logit P = a + b d(x)`` fitted on a candidate's profile rows.

Everything here is numpy: the shipped regressor is four arrays (``mean``, ``scale``, ``coef``,
``bias``), so serving needs no torch for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .neighbours import Neighbours

EPS = 1e-3
FOLDS = 5  # cross-fitting folds of the training prompts
HASH_BITS = 16


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def hash_projection(width: int, seed: int = 0) -> np.ndarray:
    """Fixed random projection (F, HASH_BITS) whose sign bits assign a prompt to a fold."""
    return np.random.default_rng(seed).standard_normal((width, HASH_BITS)).astype(np.float32)


def hash_folds(z: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """Standardised features (B, F) -> fold (B,) in [0, FOLDS): a function of the prompt alone."""
    bits = (z @ proj > 0).astype(np.int64)  # (B, HASH_BITS)
    return (bits @ (1 << np.arange(proj.shape[1], dtype=np.int64))) % FOLDS


@dataclass
class Regressor:
    """D difficulty scores d(x) = ((x - mean) / scale) @ coef + bias, x (B, F) -> (B, D); each
    output has mean 0 and s.d. 1 over its training prompts (higher: more models succeed).

    Cross-fitting: ``fold_coef[k]`` was fitted without the training prompts of fold k (folds by
    ``hash_folds``), so ``cross_fitted`` scores a training prompt with a regressor that never saw
    it; profile rows are scored that way, or their calibration would trust in-sample fits."""

    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    coef: np.ndarray  # (F, D)
    bias: np.ndarray  # (D,)
    proj: np.ndarray | None = None  # (F, HASH_BITS)
    fold_coef: np.ndarray | None = None  # (FOLDS, F, D)
    fold_bias: np.ndarray | None = None  # (FOLDS, D)
    neighbours: Neighbours | None = None  # S more outputs: kNN soft labels over the last layer

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float32) - self.mean) / self.scale  # (B, F)

    def __call__(self, x: np.ndarray, neighbours: bool = False) -> np.ndarray:
        """(B, F) -> (B, D), and with ``neighbours`` the neighbour outputs after them (B, D + S)."""
        return self._with_neighbours(x, self.standardise(x) @ self.coef + self.bias, neighbours)

    def cross_fitted(self, x: np.ndarray, neighbours: bool = False) -> np.ndarray:
        """(B, F) -> (B, D), each row by the fold regressor that left its fold out."""
        if self.fold_coef is None:
            return self(x, neighbours)
        z = self.standardise(x)
        f = hash_folds(z, self.proj)  # (B,)
        return self._with_neighbours(x, np.einsum("bf,bfd->bd", z, self.fold_coef[f]) + self.fold_bias[f], neighbours)

    def _with_neighbours(self, x: np.ndarray, d: np.ndarray, neighbours: bool) -> np.ndarray:
        if not neighbours or self.neighbours is None:
            return d
        last = np.asarray(x, np.float32)[:, -self.neighbours.in_dim :]  # the last layer's mean
        return np.concatenate([d, self.neighbours(last)], 1)

    def arrays(self) -> dict[str, np.ndarray]:
        a = {"mean": self.mean, "scale": self.scale, "coef": self.coef, "bias": self.bias}
        if self.fold_coef is not None:
            a |= {"proj": self.proj, "fold_coef": self.fold_coef, "fold_bias": self.fold_bias}
        if self.neighbours is not None:
            a |= self.neighbours.arrays()
        return a

    @classmethod
    def from_arrays(cls, a: dict) -> "Regressor":
        f = lambda k: np.asarray(a[k], np.float32) if k in a else None  # noqa: E731
        return cls(f("mean"), f("scale"), f("coef"), f("bias"), f("proj"), f("fold_coef"), f("fold_bias"),
                   Neighbours.from_arrays(a))

    @classmethod
    def load(cls, path: str | Path) -> "Regressor":
        """From a safetensors file; FileNotFoundError naming it when it is missing."""
        from safetensors.numpy import load_file

        if not Path(path).is_file():
            raise FileNotFoundError(f"value-model checkpoint file not found: {path}")
        return cls.from_arrays(load_file(str(path)))

    @classmethod
    def stack(cls, parts: list["Regressor"]) -> "Regressor":
        """One regressor per training source -> one with D = sum of their outputs."""
        cat = lambda k, axis: None if getattr(parts[0], k) is None else np.concatenate([getattr(p, k) for p in parts], axis)  # noqa: E731
        return cls(parts[0].mean, parts[0].scale, cat("coef", 1), cat("bias", 0), parts[0].proj, cat("fold_coef", 2), cat("fold_bias", 1))


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (P, F) -> column mean and scale (F,), scale floored so constant columns stay finite."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    scale = np.maximum(x.std(0), 1e-6)
    return mean.astype(np.float32), scale.astype(np.float32)


class RidgeStats:
    """Weighted sufficient statistics of standardised rows, so folds can be removed cheaply."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        self.mean, self.scale = mean, scale
        F = len(mean)
        self.xtx = np.zeros((F, F))
        self.xty = np.zeros(F)
        self.sx = np.zeros(F)
        self.sy = 0.0
        self.sw = 0.0

    def part(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, sign: float = 1.0) -> "RidgeStats":
        z = (np.asarray(x, np.float64) - self.mean) / self.scale  # (P, F)
        zw = z * w[:, None]
        self.xtx += sign * (zw.T @ z)
        self.xty += sign * (zw.T @ y)
        self.sx += sign * zw.sum(0)
        self.sy += sign * float((w * y).sum())
        self.sw += sign * float(w.sum())
        return self

    def __add__(self, other: "RidgeStats") -> "RidgeStats":
        out = self.copy()
        out.xtx += other.xtx
        out.xty += other.xty
        out.sx += other.sx
        out.sy += other.sy
        out.sw += other.sw
        return out

    def copy(self) -> "RidgeStats":
        out = RidgeStats(self.mean, self.scale)
        out.xtx, out.xty, out.sx, out.sy, out.sw = self.xtx.copy(), self.xty.copy(), self.sx.copy(), self.sy, self.sw
        return out

    def solve(self, ridge: float) -> Regressor:
        """Weighted ridge with an unpenalised intercept; ``ridge`` is per unit of total weight."""
        mx, my = self.sx / self.sw, self.sy / self.sw
        c = self.xtx - self.sw * np.outer(mx, mx)  # centred
        b = self.xty - self.sw * mx * my
        coef = np.linalg.solve(c + ridge * self.sw * np.eye(len(c)), b)
        sd = max(float(np.sqrt(coef @ c @ coef / self.sw)), 1e-9)  # s.d. of the fitted values
        coef, bias = coef / sd, -(mx @ coef) / sd  # mean 0, s.d. 1 over the training rows
        return Regressor(self.mean, self.scale, coef.astype(np.float32)[:, None], np.array([bias], np.float32))


def prompt_targets(outcomes, exclude_model: str | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Outcome rows -> (prompt ids, mean score over models (soft label), number of models)."""
    rows = outcomes if exclude_model is None else outcomes[outcomes["model"] != exclude_model]
    g = rows.groupby("prompt_id")["score"].agg(["mean", "count"])
    return g.index.tolist(), g["mean"].to_numpy(np.float64), g["count"].to_numpy(np.float64)


@dataclass
class CalibrationPrior:
    slope: float = 0.0  # prior mean of every slope b_j (logit per s.d. of difficulty score j)
    slope_precision: float = 10.0  # prior precision of each b_j (Hessian units: ~N/4 per unit-variance d)
    bias_precision: float = 1e-2  # weak prior holding a near logit(profile mean) - b0 . mean d


def fit_logistic(Z: np.ndarray, y: np.ndarray, theta0: np.ndarray, prec: np.ndarray, steps: int = 8) -> np.ndarray:
    """Logistic regression of soft labels y (N,) on columns Z (N, K) with a Gaussian prior
    N(theta0, prec^-1) (prec (K, K)), by Newton steps from theta0 -> theta (K,)."""
    theta = theta0.copy()
    for _ in range(steps):
        p = sigmoid(Z @ theta)
        g = Z.T @ (p - y) + prec @ (theta - theta0)
        H = (Z * (p * (1 - p))[:, None]).T @ Z + prec
        theta = theta - np.linalg.solve(H, g)
    return theta


def fit_calibration(d: np.ndarray, y: np.ndarray, prior: CalibrationPrior, steps: int = 8) -> tuple[float, np.ndarray]:
    """Profile rows' difficulty scores d (N, D) and scores y (N,) in [0, 1] -> (a, b (D,)) of
    logit P = a + d @ b; logistic regression on soft labels, Newton steps, Gaussian prior."""
    d = np.asarray(d, np.float64).reshape(len(y), -1)
    y = np.asarray(y, np.float64)
    Z = np.concatenate([np.ones((len(d), 1)), d], 1)  # (N, 1 + D)
    b0 = np.full(d.shape[1], prior.slope)
    theta0 = np.concatenate([[logit(y.mean()) - d.mean(0) @ b0], b0])
    prec = np.diag([prior.bias_precision] + [prior.slope_precision] * d.shape[1])
    theta = fit_logistic(Z, y, theta0, prec, steps)
    return float(theta[0]), theta[1:]


class FoldedStats:
    """RidgeStats per hash fold of the prompts: the full fit and the leave-one-fold-out fits."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, proj: np.ndarray):
        self.mean, self.scale, self.proj = mean, scale, proj
        self.folds = [RidgeStats(mean, scale) for _ in range(FOLDS)]

    def part(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, sign: float = 1.0) -> "FoldedStats":
        f = hash_folds((np.asarray(x, np.float32) - self.mean) / self.scale, self.proj)
        for k in range(FOLDS):
            sel = f == k
            if sel.any():
                self.folds[k].part(x[sel], y[sel], w[sel], sign)
        return self

    def copy(self) -> "FoldedStats":
        out = FoldedStats(self.mean, self.scale, self.proj)
        out.folds = [s.copy() for s in self.folds]
        return out

    def __add__(self, other: "FoldedStats") -> "FoldedStats":
        out = self.copy()
        out.folds = [a + b for a, b in zip(self.folds, other.folds)]
        return out

    def solve(self, ridge: float) -> Regressor:
        total = sum(self.folds[1:], self.folds[0])
        full = total.solve(ridge)
        loo = [sum((s for j, s in enumerate(self.folds) if j != k), RidgeStats(self.mean, self.scale)).solve(ridge) for k in range(FOLDS)]
        return Regressor(full.mean, full.scale, full.coef, full.bias, self.proj,
                         np.stack([r.coef for r in loo]), np.stack([r.bias for r in loo]))


def fit_sources(stats: dict[str, FoldedStats], ridge: float, mode: str = "per-source",
                solved: dict[str, Regressor] | None = None) -> Regressor:
    """``per-source``: one standardised output per training source (the calibration weighs them
    per candidate); ``pooled``: one regressor over every source's prompts. ``solved``: sources
    already solved (reused as they are)."""
    if mode == "pooled":
        parts = list(stats.values())
        return sum(parts[1:], parts[0]).solve(ridge)
    solved = solved or {}
    return Regressor.stack([solved[k] if k in solved else stats[k].solve(ridge) for k in sorted(stats)])
