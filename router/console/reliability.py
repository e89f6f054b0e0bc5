"""Reliability of predicted probabilities: equal-width bins, and the expected calibration error.
No I/O, no model; used by ``/admin/stats`` and by ``v0-gateway calibrate``.

ECE = sum over equal-width bins of (bin size / n) * |mean outcome - mean p|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BINS = 10


@dataclass(frozen=True)
class Reliability:
    bin_edges: list[float]  # (B+1,)
    mean_p: list[float | None]  # (B,) None for an empty bin
    mean_outcome: list[float | None]
    count: list[int]
    ece: float
    n: int


def reliability(p: np.ndarray, outcome: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """Equal-width bins over [0, 1]; p == 1 falls in the last bin. Outcomes may be fractional."""
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(outcome, dtype=float).ravel()
    if p.shape != y.shape or p.size == 0:
        raise ValueError("need the same, non-zero number of predictions and outcomes")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.floor(p * n_bins).astype(int), 0, n_bins - 1)  # (N,)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mp, my = sum_p / count, sum_y / count
    ece = float(np.sum(np.abs(sum_y - sum_p)) / p.size)  # = sum_b (n_b/n) |my_b - mp_b|
    return Reliability(
        bin_edges=edges.tolist(),
        mean_p=[None if c == 0 else float(v) for c, v in zip(count, mp)],
        mean_outcome=[None if c == 0 else float(v) for c, v in zip(count, my)],
        count=count.astype(int).tolist(),
        ece=ece,
        n=int(p.size),
    )


def expected_calibration_error(p: np.ndarray, outcome: np.ndarray, n_bins: int = N_BINS) -> float:
    return reliability(p, outcome, n_bins).ece
