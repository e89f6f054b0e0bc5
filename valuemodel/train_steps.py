"""What one training step and one validation compute: the episode loss, the tables of cached
backbone states, the token-state PCA basis, features of table rows, and validation Intra-AUC."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .backbone import Backbone
from .cache import get_states
from .data import load_dataset, subsample_prompts
from .episodes import Table, build_table
from .licences import split_index
from .metrics import intra_auc
from .model import V0Modules, feature_of

from .train_config import TrainConfig

log = logging.getLogger(__name__)


# ---- loss --------------------------------------------------------------------------------
def episode_loss(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, alpha: float) -> torch.Tensor:
    """logits, y (E, Q), mask (E, Q) -> soft CE + alpha * pairwise ranking, averaged over episodes."""
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")  # (E, Q)
    ce = (ce * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (E,)
    diff_y = y[:, :, None] - y[:, None, :]  # (E, Q, Q)
    pair = (diff_y > 1e-6) & mask[:, :, None] & mask[:, None, :]  # i better than j
    diff_l = logits[:, :, None] - logits[:, None, :]  # (E, Q, Q)
    rank = (F.softplus(-diff_l) * pair).sum((1, 2)) / pair.sum((1, 2)).clamp(min=1)  # (E,)
    return (ce + alpha * rank).mean()


# ---- data --------------------------------------------------------------------------------
def load_tables(cfg: TrainConfig, backbone: Backbone) -> list[Table]:
    tables = []
    for i, name in enumerate(cfg.datasets):
        ds = load_dataset(Path(cfg.data) / name)
        if "part" in ds.outcomes.columns:
            ds = ds.select_rows(ds.outcomes["part"].isin(cfg.dapo_parts).to_numpy())
        ds = subsample_prompts(ds, cfg.max_prompts, seed=cfg.seed)
        states = get_states(backbone, name, ds.prompts, cfg.cache).subset(sorted(ds.prompts))
        table = build_table(ds, states, val_prompt_frac=cfg.val_prompt_frac, seed=cfg.seed + split_index(name, i))
        log.info("%s: %d prompts, %d train models, held-out models %s", name, len(ds.prompts), len(table.train_models), table.val_models)
        tables.append(table)
    return tables


@torch.no_grad()
def fit_token_basis(tables: list[Table], dim: int, seed: int, per_table: int = 1500) -> tuple[torch.Tensor, torch.Tensor]:
    """PCA of token states over a sample of every table's prompts: mean (H,), basis (H, P)."""
    rng = np.random.default_rng(seed)
    H = tables[0].states.tokens.shape[-1]
    total, s1, s2 = 0, torch.zeros(H, dtype=torch.float64), torch.zeros(H, H, dtype=torch.float64)
    for t in tables:
        rows = rng.choice(len(t.states.prompt_ids), size=min(per_table, len(t.states.prompt_ids)), replace=False)
        for s in range(0, len(rows), 256):
            tokens, mask, _ = t.states.batch(torch.as_tensor(rows[s : s + 256]))
            x = tokens[mask].double()  # (n, H) real tokens only
            total += len(x)
            s1 += x.sum(0)
            s2 += x.T @ x
    mean = s1 / total
    cov = s2 / total - torch.outer(mean, mean)
    _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
    return mean.float(), vecs[:, -dim:].flip(-1).float().contiguous()


@torch.no_grad()
def project_states(table: Table, adapter, chunk: int = 256) -> None:
    """Replace the table's token states by their projection on the adapter's basis (float16)."""
    st = table.states
    P = adapter.config.token_dim
    out = torch.zeros(st.tokens.shape[0], st.tokens.shape[1], P, dtype=torch.float16)
    for s in range(0, len(out), chunk):
        rows = torch.arange(s, min(s + chunk, len(out)))
        tokens, mask, _ = st.batch(rows)
        proj = adapter.project_tokens(tokens) * mask[..., None]  # (b, T', P)
        out[s : s + len(rows), : proj.shape[1]] = proj.half()
    st.tokens = out


def features(modules: V0Modules, table: Table, rows: np.ndarray, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Adapter features (R, K d) and pooled embeddings (R, H) of state rows (projected tokens)."""
    out_a, out_p = [], []
    for s in range(0, len(rows), chunk):
        tokens, mask, pooled = table.states.batch(torch.as_tensor(rows[s : s + chunk]))
        out_a.append(modules.adapter(tokens, mask, pooled, projected=True))  # (r, K d)
        out_p.append(pooled)
    return torch.cat(out_a), torch.cat(out_p)


# ---- validation --------------------------------------------------------------------------
@torch.no_grad()
def validate(modules: V0Modules, tables: list[Table], cfg: TrainConfig) -> dict:
    """Intra-AUC on held-out prompts: for training models (by prompt) and held-out models."""
    modules.eval()
    result: dict = {}
    for group in ("by_prompt", "by_model"):
        per_ds_icl, per_ds_abl = [], []
        for t in tables:
            models = t.train_models if group == "by_prompt" else t.val_models
            models = [m for m in models if len(t.val[m].rows) >= 8]
            if not models:
                continue
            rng = np.random.default_rng(cfg.seed + 1000)
            prof = {}
            for m in models:
                tr = t.train[m]
                idx = rng.choice(len(tr.rows), size=min(cfg.profile_size, len(tr.rows)), replace=False)
                prof[m] = (tr.rows[idx], tr.scores[idx])
            need = np.unique(np.concatenate([r for r, _ in prof.values()] + [t.val[m].rows for m in models]))
            fa, fp = features(modules, t, need)
            fi = feature_of(cfg.icl_features, fa, fp)  # what the default head reads
            where = {r: i for i, r in enumerate(need.tolist())}
            res_icl, res_abl = {}, {}
            for m in models:
                pr, py = prof[m]
                qr, qy = t.val[m].rows, t.val[m].scores
                pi = torch.as_tensor([where[r] for r in pr.tolist()])
                qi = torch.as_tensor([where[r] for r in qr.tolist()])
                y = torch.as_tensor(py)[None]
                ones = torch.ones_like(y, dtype=torch.bool)
                li = modules.icl(fi[pi][None], y, ones, fi[qi][None])[0]
                la = modules.ablation(fp[pi][None], y, ones, fp[qi][None])[0]
                if cfg.residual:
                    li = li + la
                res_icl[m] = (li.numpy(), qy)
                res_abl[m] = (la.numpy(), qy)
            mi, _ = intra_auc(res_icl)
            ma, _ = intra_auc(res_abl)
            result[f"{group}/{t.name}/icl"] = mi
            result[f"{group}/{t.name}/noadapter"] = ma
            per_ds_icl.append(mi)
            per_ds_abl.append(ma)
        result[f"{group}/icl"] = float(np.nanmean(per_ds_icl)) if per_ds_icl else float("nan")
        result[f"{group}/noadapter"] = float(np.nanmean(per_ds_abl)) if per_ds_abl else float("nan")
    result["score"] = float(np.nanmean([result["by_prompt/icl"], result["by_model/icl"]]))
    modules.train()
    return result
