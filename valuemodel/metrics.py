"""Intra-AUC: ROC AUC of predicted P(success) against binarised outcomes, per model."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auc(pred, scores, threshold: float = 0.5) -> float:
    """ROC AUC of ``pred`` against ``scores >= threshold`` (Mann-Whitney, ties count half);
    NaN when only one class is present."""
    y = np.asarray(scores, dtype=float) >= threshold
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(pred, dtype=float))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def intra_auc(per_model: dict[str, tuple]) -> tuple[float, dict[str, float]]:
    """{model: (pred, scores)} -> (mean AUC over models with both classes, {model: AUC})."""
    aucs = {m: auc(p, s) for m, (p, s) in per_model.items()}
    valid = [a for a in aucs.values() if not np.isnan(a)]
    return (float(np.mean(valid)) if valid else float("nan")), aucs
