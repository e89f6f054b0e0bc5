"""Threshold choice and reliability, from any (p, outcome, cost) data: the arithmetic behind
`v0-gateway calibrate` (profiles or decision log). No I/O, no model.

ECE = sum over equal-width bins of (bin size / n) * |mean outcome - mean p|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.evaluation.curves import sweep_threshold, threshold_grid

N_BINS = 10


# ---- reliability -------------------------------------------------------------------------

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


# ---- threshold choice ----------------------------------------------------------------------

@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    quality: float  # mean outcome per request at that threshold, on the calibration data
    cost: float  # mean cost per request, same units as the costs given
    met: bool  # False: the target cannot be met; the closest threshold is given instead
    target: str  # "quality >= x" or "cost <= x"


def choose_threshold(
    thresholds: np.ndarray,
    cost: np.ndarray,
    quality: np.ndarray,
    *,
    target_quality: float | None = None,
    target_cost: float | None = None,
) -> ThresholdChoice:
    """Pick from a threshold sweep: the cheapest threshold whose quality >= target_quality
    (ties: higher quality, then the lower threshold), or the highest-quality threshold whose
    cost <= target_cost (ties: lower cost, then the lower threshold). When nothing meets the
    target: the highest-quality threshold, or the cheapest one."""
    if (target_quality is None) == (target_cost is None):
        raise ValueError("give exactly one of target_quality and target_cost")
    t, c, q = (np.asarray(a, dtype=float) for a in (thresholds, cost, quality))
    if target_quality is not None:
        ok = q >= target_quality - 1e-12
        keys = (t, -q, c) if ok.any() else (t, c, -q)  # lexsort: last key is primary
        label = f"quality >= {target_quality:g}"
    else:
        ok = c <= target_cost + 1e-15
        keys = (t, c, -q) if ok.any() else (t, -q, c)
        label = f"cost <= {target_cost:g}"
    pool = np.flatnonzero(ok) if ok.any() else np.arange(len(t))
    order = np.lexsort(tuple(k[pool] for k in keys))
    i = int(pool[order[0]])
    return ThresholdChoice(float(t[i]), float(q[i]), float(c[i]), bool(ok.any()), label)


def calibrate_threshold(
    p: np.ndarray,
    expected: np.ndarray,
    cost: np.ndarray,
    score: np.ndarray,
    *,
    target_quality: float | None = None,
    target_cost: float | None = None,
    fallback: int | None = None,
) -> ThresholdChoice:
    """Threshold for a target from (out-of-fold) predictions on graded prompts, all (M, Q)."""
    curve = sweep_threshold(p, expected, cost, score, thresholds=threshold_grid(p), fallback=fallback)
    return choose_threshold(curve.values, curve.cost, curve.quality, target_quality=target_quality, target_cost=target_cost)


@dataclass
class PolicyTarget:
    name: str
    candidates: list[str]  # model names as they appear in the calibration data
    fallback: str | None  # None: the candidate with the highest p
    current_threshold: float | None


