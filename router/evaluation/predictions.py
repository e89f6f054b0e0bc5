"""V0 predictions for offline evaluation: aligned (M, Q) matrices and out-of-fold predictions
(each fold of prompts predicted from profiles drawn from the other folds only)."""

from __future__ import annotations

import numpy as np


# ---- V0 predictions ----------------------------------------------------------------------------

def load_v0(weights: str | None, head: str | None):
    from valuemodel import V0

    return V0.load(weights, head=head)


def predict_matrix(v0, profiles, evaluation, **kw):
    """valuemodel.evaluate.predict_matrix: (models, prompt_ids, P (M, Q))."""
    from valuemodel.evaluate import predict_matrix as _predict_matrix

    return _predict_matrix(v0, profiles, evaluation, **kw)


def encode_all(v0, texts: dict[str, str]) -> dict[str, dict]:
    """One backbone pass per text, every feature kind: {"adapter": {id: (F,)}, "pooled": {...}}.
    Reused across heads and folds so that no prompt is encoded twice."""
    from valuemodel.evaluate import encode_features

    return encode_features(v0, texts)


def predict_aligned(v0, profiles, evaluation, models: list[str], prompt_ids, *, profile_size: int, seed: int,
                    head=None, features: dict[str, dict] | None = None) -> np.ndarray:
    """(M, Q) P(success) in the order of `models` x `prompt_ids`."""
    kw = {} if features is None else {"feature_cache": features[v0.features]}
    got_models, got_ids, P = predict_matrix(v0, profiles, evaluation, profile_size=profile_size, seed=seed, head=head, **kw)
    rows = [list(got_models).index(m) for m in models]
    col = {str(p): j for j, p in enumerate(got_ids)}
    return np.asarray(P, dtype=float)[rows][:, [col[str(p)] for p in prompt_ids]]


# ---- cross-validated predictions from profile data --------------------------------------------

def out_of_fold(v0, ds, models: list[str], prompt_ids: list[str], *, folds: int, profile_size: int, seed: int,
                head=None, features: dict[str, dict] | None = None) -> np.ndarray:
    """(M, Q) P(success) for `prompt_ids`, each fold predicted from profiles of the others."""
    if folds < 2:
        raise ValueError("need at least 2 folds")
    ids = np.array(prompt_ids)
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(np.arange(len(ids)) % folds)  # (Q,) balanced, seeded
    sub = ds.select_rows(ds.outcomes["model"].isin(models))
    out = np.full((len(models), len(ids)), np.nan)
    for k in range(folds):
        held = ids[fold_of == k]
        rest = sub.select_prompts(ids[fold_of != k])
        out[:, fold_of == k] = predict_aligned(v0, rest, sub.select_prompts(held), models, held, profile_size=profile_size, seed=seed + k, head=head, features=features)
    if np.isnan(out).any():
        raise RuntimeError("some prompts got no out-of-fold prediction")
    return out


