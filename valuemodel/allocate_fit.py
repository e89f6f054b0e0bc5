"""Fitting the Beta posterior that :mod:`valuemodel.allocate` puts around each prediction: the
evidence (kappa) and shrinkage that best explain observed pass rates, by beta-binomial maximum
likelihood on a grid (offline: ``bench allocate`` and ``bench select`` fit it on cross-validated
profile rows)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .allocate import EPS, Posterior, posterior_mean


def _log_beta_binomial(k: np.ndarray, n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log P(k successes of n | Beta(a, b)) up to the binomial coefficient (a constant here):
    log B(k + a, n - k + b) - log B(a, b) as products of rising factorials. (len(k),)"""
    j = np.arange(n)[None, :]  # (1, n)
    up = np.where(j < k[:, None], np.log(a[:, None] + j), 0.0).sum(1)
    down = np.where(j < n - k[:, None], np.log(b[:, None] + j), 0.0).sum(1)
    return up + down - np.log(a[:, None] + b[:, None] + j).sum(1)


def fit_posterior(p_hat: Sequence[float] | np.ndarray, pass_rates: Sequence[float] | np.ndarray,
                  trials: int, *, prior_mean: float | None = None) -> Posterior:
    """The (evidence, shrink) that best explain observed pass rates (each from ``trials``
    rollouts) given held-out predictions ``p_hat``: beta-binomial maximum likelihood on a grid.
    Fit it on predictions for rows the profile did not contain (cross-validation)."""
    ph, y = np.asarray(p_hat, dtype=np.float64), np.asarray(pass_rates, dtype=np.float64)
    if ph.shape != y.shape or ph.size == 0 or trials < 1:
        raise ValueError("need as many pass rates as predictions (> 0) and trials >= 1")
    k = np.rint(y * trials)
    best = (-np.inf, Posterior())
    for shrink in np.linspace(0.0, 1.0, 11):
        m = np.clip(posterior_mean(ph, Posterior(1.0, float(shrink)), prior_mean), EPS, 1 - EPS)
        for kappa in np.geomspace(0.05, 200.0, 41):
            ll = float(np.sum(_log_beta_binomial(k, trials, kappa * m, kappa * (1 - m))))
            if ll > best[0]:
                best = (ll, Posterior(float(kappa), float(shrink)))
    return best[1]
