"""Intra-AUC: ROC AUC of predicted P(success) against binarised outcomes, per model."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auc(pred, scores, threshold: float = 0.5) -> float:
    """ROC AUC of ``pred`` against ``scores >= threshold``; NaN when only one class is present."""
    y = np.asarray(scores, dtype=float) >= threshold
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(pred, dtype=float)))


def intra_auc(per_model: dict[str, tuple]) -> tuple[float, dict[str, float]]:
    """{model: (pred, scores)} -> (mean AUC over models with both classes, {model: AUC})."""
    aucs = {m: auc(p, s) for m, (p, s) in per_model.items()}
    valid = [a for a in aucs.values() if not np.isnan(a)]
    return (float(np.mean(valid)) if valid else float("nan")), aucs
