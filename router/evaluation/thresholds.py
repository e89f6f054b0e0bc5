"""Threshold choice and reliability, from any (p, outcome, cost) data: the arithmetic behind
`v0-gateway calibrate` (profiles or decision log). No I/O, no model.

Reliability and ECE live in ``router/console/reliability.py`` (the admin API uses them too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.console.reliability import N_BINS, Reliability, expected_calibration_error, reliability
from router.evaluation.curves import sweep_threshold, threshold_grid

__all__ = ["N_BINS", "Reliability", "expected_calibration_error", "reliability", "choose_threshold",
           "calibrate_threshold", "ThresholdChoice", "PolicyTarget"]


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


