"""Prompt-disjoint evaluation of V0 heads on cached features (numpy; ``bench/value_cv.py``).

* DAPO-Math: K-fold cross-validation over the ``context`` rows, folds by prompt; each fold is
  scored with profiles drawn from the other folds, and the difficulty regressor is refitted
  without the fold's prompts. Per-policy Intra-AUC over the out-of-fold predictions, and the
  V0 repository's grouping (one AUC per GRPO step over both models' rows).
* Other datasets: a prompt-disjoint split (profiles from one part, eval on the other); the
  regressor is trained elsewhere (it never sees the dataset).

A *method* maps (profile features (N, F), profile scores (N,), tasks, query features (Q, F),
query tasks) to P (Q,). ``Features`` holds one row per prompt: ``layers+adapter`` columns.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .data import Dataset, split_by_prompt
from .difficulty import FoldedStats, fit_sources, prompt_targets
from .metrics import auc
from .neighbours import unit

Method = Callable[..., np.ndarray]


@dataclass
class Features:
    index: dict[str, int]  # prompt_id -> row
    x: np.ndarray  # (P, (L+1) H + K d) float32

    def rows(self, prompt_ids) -> np.ndarray:
        return self.x[[self.index[p] for p in prompt_ids]]


def features_from_cache(cached: dict[str, np.ndarray], layers: str = "all") -> Features:
    L = cached["layers"].astype(np.float32)  # (P, L+1, H)
    flat = L.reshape(len(L), -1)
    x = np.concatenate([flat, cached["adapter"].astype(np.float32)], 1)
    return Features({p: i for i, p in enumerate(cached["prompt_ids"].tolist())}, x)


def draw(rows: pd.DataFrame, size: int, seed: int, model: str) -> pd.DataFrame:
    rng = np.random.default_rng([seed, zlib.crc32(model.encode())])
    if len(rows) <= size:
        return rows
    return rows.iloc[np.sort(rng.choice(len(rows), size=size, replace=False))]


def ridge_part(stats: FoldedStats, feats: Features, outcomes: pd.DataFrame, weight: float, cols: slice, sign: float = 1.0):
    """Add (or with sign -1 remove) a dataset's prompts: soft label = mean score over models."""
    pids, y, _ = prompt_targets(outcomes)
    return stats.part(feats.rows(pids)[:, cols], y, np.full(len(y), weight), sign)


def neighbour_part(feats: Features, outcomes: pd.DataFrame, last: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A source's training prompts for neighbour difficulty: (prompt ids, last-layer means, soft labels)."""
    pids, y, _ = prompt_targets(outcomes)
    return np.array(pids), feats.rows(pids)[:, last], y


def score_models(methods: dict[str, Method], feats: Features, ds: Dataset, prof: pd.DataFrame, ev: pd.DataFrame, size: int, seed: int, regressor=None):
    """P for every method, model and eval row: {method: {model: (pred, score, prompt_ids)}}."""
    out: dict[str, dict] = {name: {} for name in methods}
    drawn = {m: draw(prof[prof["model"] == m], size, seed, m) for m in sorted(ev["model"].unique())}
    pool = [(feats.rows(r["prompt_id"]), r["score"].to_numpy() - r["score"].mean()) for r in drawn.values() if len(r)]
    pool = (np.concatenate([x for x, _ in pool]), np.concatenate([y for _, y in pool])) if pool else None
    for model in sorted(ev["model"].unique()):
        p_rows = drawn[model]
        e_rows = ev[ev["model"] == model]
        if len(p_rows) == 0 or len(e_rows) == 0:
            continue
        px, py = feats.rows(p_rows["prompt_id"]), p_rows["score"].to_numpy(np.float64)
        qx = feats.rows(e_rows["prompt_id"])
        pt = [ds.tasks.get(p, "") for p in p_rows["prompt_id"]]
        qt = [ds.tasks.get(p, "") for p in e_rows["prompt_id"]]
        for name, method in methods.items():
            pred = method(px, py, pt, qx, qt, regressor=regressor, prompt_ids=e_rows["prompt_id"].tolist(), model=model, pool=pool)
            out[name].setdefault(model, []).append((pred, e_rows["score"].to_numpy(), e_rows["prompt_id"].tolist()))
    return out


def merge(parts: list[dict]) -> dict:
    """Concatenate per-fold predictions: {method: {model: (pred, score)}}."""
    out: dict[str, dict] = {}
    for part in parts:
        for name, per in part.items():
            for model, chunks in per.items():
                out.setdefault(name, {}).setdefault(model, []).extend(chunks)
    return {
        name: {m: (np.concatenate([c[0] for c in ch]), np.concatenate([c[1] for c in ch])) for m, ch in per.items()}
        for name, per in out.items()
    }


def paired_bootstrap(a: dict, b: dict, resamples: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """Mean-over-models Intra-AUC of ``a`` minus ``b`` ({model: (pred, score)}, same rows):
    (difference, 2.5 %, 97.5 %) with eval rows resampled within each model, pairs kept."""
    rng = np.random.default_rng(seed)
    models = [m for m in a if not np.isnan(auc(*a[m]))]
    diff = float(np.mean([auc(*a[m]) - auc(*b[m]) for m in models]))
    draws = []
    for _ in range(resamples):
        d = []
        for m in models:
            idx = rng.integers(0, len(a[m][1]), len(a[m][1]))
            d.append(auc(a[m][0][idx], a[m][1][idx]) - auc(b[m][0][idx], b[m][1][idx]))
        draws.append(np.nanmean(d))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return diff, float(lo), float(hi)


PAIRS: list[tuple[str, str]] = []  # (method, baseline) pairs to bootstrap; set by the caller


def summarise(preds: dict, group_of: Callable[[str], str] | None = None) -> dict:
    """Per-model AUC and mean; with ``group_of``, also AUC per group of models' pooled rows;
    for every pair in ``PAIRS`` present here, a paired bootstrap of the difference. With an
    ``oracle_others`` method, every method also gets ``oracle_rows_auc``: its mean AUC on the
    rows where the oracle is defined (another model answered the prompt), the oracle's own
    figures being on those rows only."""
    oracle = preds.get("oracle_others")
    rows = {m: np.isfinite(p) for m, (p, _) in oracle.items()} if oracle else {}
    res = {}
    for name, per in preds.items():
        if name == "oracle_others":
            per = {m: (p[rows[m]], s[rows[m]]) for m, (p, s) in per.items()}
        aucs = {m: auc(p, s) for m, (p, s) in per.items()}
        row = {"mean_auc": float(np.nanmean(list(aucs.values()))), "per_model": aucs}
        if rows:
            on = {m: auc(p[rows[m]], s[rows[m]]) for m, (p, s) in preds[name].items() if m in rows}
            row["oracle_rows_auc"] = float(np.nanmean(list(on.values())))
            row["oracle_rows_per_model"] = on
        if group_of is not None:
            groups: dict[str, list] = {}
            for m, (p, s) in per.items():
                groups.setdefault(group_of(m), []).append((p, s))
            g = {k: auc(np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v])) for k, v in groups.items()}
            row["grouped_auc"] = float(np.nanmean(list(g.values())))
            row["per_group"] = g
        res[name] = row
    res["_bootstrap"] = {f"{x} - {y}": paired_bootstrap(preds[x], preds[y]) for x, y in PAIRS if x in preds and y in preds}
    return res


def dapo_cv(methods, feats: Features, ds: Dataset, sources: dict[str, dict[str, FoldedStats]], *, ridge: float,
            cols: dict[str, slice], mode: str = "per-source", folds: int = 5, seed: int = 0, size: int = 256,
            solved: dict | None = None, attach: Callable | None = None) -> dict:
    """K-fold CV over the context rows. ``sources``/``cols``/``solved`` per regressor input kind
    ("all", "last"); per fold each kind's regressor is fitted on its sources plus the other
    folds' prompts (source ``dapomath``), never on the scored fold's prompts; ``attach(regs, held
    prompt ids)`` adds neighbour outputs built without the held-out fold."""
    ctx = ds.outcomes[ds.outcomes["part"] == "context"]
    pids = np.array(sorted(set(ctx["prompt_id"])))
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(rng.permutation(pids), np.arange(len(pids)) % folds))
    f = ctx["prompt_id"].map(fold_of).to_numpy()
    parts = []
    for k in range(folds):
        regs = {}
        for kind, src in sources.items():
            some = next(iter(src.values()))
            own = ridge_part(FoldedStats(some.mean, some.scale, some.proj), feats, ctx[f != k], 1.0, cols[kind])
            regs[kind] = fit_sources({**src, "dapomath": own}, ridge, mode, solved=(solved or {}).get(kind))
        if attach is not None:
            regs = attach(regs, set(pids[[fold_of[p] == k for p in pids]]))
        parts.append(score_models(methods, feats, ds, ctx[f != k], ctx[f == k], size, seed * 100 + k, regs))
    return summarise(merge(parts), group_of=lambda m: m.split("@")[-1])


def split_eval(methods, feats: Features, ds: Dataset, regressor, *, seed: int = 0, frac: float = 0.5, size: int = 256) -> dict:
    """Prompt-disjoint split ``seed``: profiles from ``frac`` of the prompts, eval on the rest."""
    prof, ev = split_by_prompt(ds, frac, seed)
    return summarise(merge([score_models(methods, feats, ds, prof.outcomes, ev.outcomes, size, seed, regressor)]))


def training_val_prompts(ds: Dataset, position: int, *, max_prompts: int = 12000, frac: float = 0.1, seed: int = 0) -> set[str]:
    """The prompts a ``v0-gateway train`` run (defaults) held out of dataset number ``position``:
    scoring them is fair for its adapter and heads too."""
    from .data import subsample_prompts

    if "part" in ds.outcomes.columns:
        ds = ds.select_rows((ds.outcomes["part"] == "context").to_numpy())
    ds = subsample_prompts(ds, max_prompts, seed=seed)
    prompts = np.array(sorted(set(ds.outcomes["prompt_id"]) & set(ds.prompts)))
    np.random.default_rng(seed + position).shuffle(prompts)
    return set(prompts[: int(round(frac * len(prompts)))].tolist())


# ---- methods ------------------------------------------------------------------------------
def task_rate(px, py, pt, qx, qt, **_):
    """Text-free baseline: the model's success rate on the profile rows of the same task."""
    rate = pd.Series((py >= 0.5).astype(float)).groupby(pt).mean().to_dict()
    base = float((py >= 0.5).mean())
    return np.array([rate.get(t, base) for t in qt])


def head_method(head, cols: slice) -> Method:
    """Any V0 head (fit/predict interface) over feature columns ``cols``."""
    def run(px, py, pt, qx, qt, **_):
        state = head.fit(torch.from_numpy(np.ascontiguousarray(px[:, cols])), torch.from_numpy(py.astype(np.float32)), "cv")
        return head.predict([state], torch.from_numpy(np.ascontiguousarray(qx[:, cols])))[0]
    return run


def difficulty_method(config, contexts: dict) -> Method:
    """The difficulty head with the fold's regressor; ``contexts``: {name: in-context head}."""
    from .heads.difficulty import DifficultyHead

    def run(px, py, pt, qx, qt, regressor=None, **_):
        reg = regressor[config.layers] if isinstance(regressor, dict) else regressor
        head = DifficultyHead(config, reg, contexts.get(config.context))
        return head.predict([head.fit(px, py, "cv")], qx)[0]
    return run


def pooled(base: Method, cols: slice, weight: float, k: int = 64) -> Method:
    """Serve-time pooling: every candidate's profile rows (labels centred per model) as evidence
    of the query's difficulty, logit P = logit P_base + weight * kNN mean of the centred labels."""
    from .difficulty import logit, sigmoid

    def run(px, py, pt, qx, qt, pool=None, **kw):
        p = base(px, py, pt, qx, qt, pool=pool, **kw)
        keys, q = unit(pool[0][:, cols]), unit(qx[:, cols])
        sim = q @ keys.T  # (Q, R)
        idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        e = pool[1][idx].mean(1)  # (Q,)
        return sigmoid(logit(p) + weight * e)
    return run


def oracle_others(*datasets: Dataset) -> Method:
    """Ceiling for shared difficulty (not a router): the mean score of the other models on the
    same prompt, from whichever dataset holds the scored model; NaN where no other model
    answered it."""
    tables = [d.outcomes.pivot_table(index="prompt_id", columns="model", values="score") for d in datasets]

    def run(px, py, pt, qx, qt, prompt_ids=(), model="", **_):
        table = next(t for t in tables if model in t.columns and set(prompt_ids) <= set(t.index))
        return table.drop(columns=[model]).loc[list(prompt_ids)].mean(1).to_numpy(dtype=float)
    return run
