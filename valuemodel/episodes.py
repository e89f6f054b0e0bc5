"""Training data for V0: per-dataset outcome tables over cached backbone states, and episodes.

An episode is (model, profile of N rows, query rows) from one dataset. Models of a dataset that
share prompts are drawn together over one prompt sample, so one adapter pass serves them all.
Held out for validation: a fraction of each dataset's prompts, and some models of every dataset
with at least three models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .cache import TokenStates
from .data import Dataset


@dataclass
class ModelRows:
    rows: np.ndarray  # (n,) indices into the dataset's TokenStates
    scores: np.ndarray  # (n,) float32 in [0, 1]


@dataclass
class Table:
    """One dataset: its states and, per model, the rows of train and of held-out prompts."""

    name: str
    states: TokenStates
    train: dict[str, ModelRows]  # model -> rows on training prompts
    val: dict[str, ModelRows]  # model -> rows on held-out prompts
    train_models: list[str]
    val_models: list[str]  # held-out models (never trained on)


@dataclass
class Episode:
    profile: np.ndarray  # (N,) positions into the step's row list
    query: np.ndarray  # (Q,) positions into the step's row list
    profile_y: np.ndarray  # (N,)
    query_y: np.ndarray  # (Q,)


def build_table(ds: Dataset, states: TokenStates, *, val_prompt_frac: float, seed: int) -> Table:
    index = states.index()
    rng = np.random.default_rng(seed)
    prompts = np.array(sorted(set(ds.outcomes["prompt_id"]) & set(index)))
    rng.shuffle(prompts)
    val_prompts = set(prompts[: int(round(val_prompt_frac * len(prompts)))])
    models = sorted(ds.outcomes["model"].unique())
    n_val_models = max(1, int(round(0.1 * len(models)))) if len(models) >= 3 else 0
    val_models = sorted(rng.choice(models, size=n_val_models, replace=False).tolist()) if n_val_models else []
    train: dict[str, ModelRows] = {}
    val: dict[str, ModelRows] = {}
    df = ds.outcomes[ds.outcomes["prompt_id"].isin(index.keys())]
    for model, g in df.groupby("model", sort=True):
        is_val = g["prompt_id"].isin(val_prompts).to_numpy()
        rows = g["prompt_id"].map(index).to_numpy()
        y = g["score"].to_numpy(dtype=np.float32)
        train[model] = ModelRows(rows[~is_val], y[~is_val])
        val[model] = ModelRows(rows[is_val], y[is_val])
    train_models = [m for m in models if m not in val_models]
    return Table(ds.name, states, train, val, train_models, val_models)


def sample_step(
    table: Table,
    rng: np.random.Generator,
    *,
    n_models: int,
    profile_size: int,
    query_size: int,
    max_unshared: int = 2,
) -> tuple[np.ndarray, list[Episode]]:
    """Episodes for one step from one dataset: (unique state rows (R,), episodes over them)."""
    k = min(n_models, len(table.train_models))
    models = rng.choice(table.train_models, size=k, replace=False)
    want = profile_size + query_size
    shared = set(table.train[models[0]].rows.tolist())
    for m in models[1:]:
        shared &= set(table.train[m].rows.tolist())
    if len(shared) >= want:  # one prompt sample for every model
        pick = rng.choice(np.array(sorted(shared)), size=want, replace=False)
        per_model = {}
        for m in models:
            mr = table.train[m]
            pos = {r: i for i, r in enumerate(mr.rows.tolist())}
            per_model[m] = (pick, mr.scores[[pos[r] for r in pick.tolist()]])
    else:  # models with their own prompts (DAPO policies): each on its own, fewer per step
        per_model = {}
        for m in models[:max_unshared]:
            mr = table.train[m]
            n = min(want, len(mr.rows))
            idx = rng.choice(len(mr.rows), size=n, replace=False)
            per_model[m] = (mr.rows[idx], mr.scores[idx])
    unique = np.unique(np.concatenate([r for r, _ in per_model.values()]))
    where = {r: i for i, r in enumerate(unique.tolist())}
    episodes = []
    for m, (rows, y) in per_model.items():
        pos = np.array([where[r] for r in rows.tolist()])
        n_prof = max(1, min(profile_size, len(rows) - min(query_size, len(rows) // 4)))
        episodes.append(Episode(pos[:n_prof], pos[n_prof:], y[:n_prof], y[n_prof:]))
    return unique, episodes


def pad_episodes(feats: torch.Tensor, episodes: list[Episode]):
    """feats (R, F) -> profile x (E, N, F), y (E, N), mask (E, N), query x (E, Q, F), y (E, Q), mask (E, Q)."""
    E = len(episodes)
    N = max(len(e.profile) for e in episodes)
    Q = max(len(e.query) for e in episodes)
    F = feats.shape[-1]
    px = feats.new_zeros(E, N, F)
    py = torch.zeros(E, N)
    pm = torch.zeros(E, N, dtype=torch.bool)
    qx = feats.new_zeros(E, Q, F)
    qy = torch.zeros(E, Q)
    qm = torch.zeros(E, Q, dtype=torch.bool)
    for i, e in enumerate(episodes):
        n, q = len(e.profile), len(e.query)
        px[i, :n] = feats[torch.as_tensor(e.profile)]
        py[i, :n] = torch.as_tensor(e.profile_y)
        pm[i, :n] = True
        qx[i, :q] = feats[torch.as_tensor(e.query)]
        qy[i, :q] = torch.as_tensor(e.query_y)
        qm[i, :q] = True
    return px, py, pm, qx, qy, qm
