"""Train the adapter and the in-context head on episodes (CLI: ``v0-gateway train``).

Loss per episode: soft cross-entropy of the query rows against their scores in [0, 1], plus
``alpha`` times a pairwise ranking loss (RankNet) over query pairs with different scores. The
adapter-free ablation head is trained on the same episodes from the pooled embeddings, with its
own parameters. ``--icl-features`` picks what the default head reads (the adapter's output,
that plus the pooled embedding, or, as a control, the pooled embedding alone). With
``--residual`` its logit is added to the ablation's (held fixed in that loss) and starts at
zero, so it learns only what the ablation gets wrong. Backbone states are computed once and
cached (float16). Every ``save_every`` steps the run folder gets ``last/`` (config.json +
model.safetensors + optimizer.safetensors), which ``--resume`` continues from; the best
validation checkpoint is kept in ``best/``.

Only the datasets named with ``--datasets`` are used; for ``dapomath`` only the parts named with
``--dapo-parts`` (default: ``context``) so its ``train``/``validity`` prompts stay unseen.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional as F
from tqdm import tqdm

from .backbone import DEFAULT_BACKBONE, Backbone, BackboneConfig
from .cache import get_states
from .checkpoint import load_checkpoint, save_checkpoint
from .data import load_dataset, subsample_prompts
from .episodes import Table, build_table, pad_episodes, sample_step
from .metrics import intra_auc
from .model import V0Config, V0Modules, feature_of, feature_width

log = logging.getLogger(__name__)

LICENSED_DATASETS = ["llmrouter_dcrouter9", "routellm_2model", "alpacaeval2_wgpt4t", "dapomath"]


@dataclass
class TrainConfig:
    data: str = ""  # folder holding the dataset folders
    datasets: list[str] = field(default_factory=lambda: list(LICENSED_DATASETS))
    dapo_parts: list[str] = field(default_factory=lambda: ["context"])
    max_prompts: int = 12000  # per dataset, seeded subsample
    out: str = "runs/v0"
    cache: str = "cache/states"
    backbone: str = DEFAULT_BACKBONE  # sentence-transformers id or folder
    steps: int = 800
    models_per_step: int = 8
    profile_size: int = 256
    query_size: int = 64
    alpha: float = 0.25
    lr: float = 7e-4
    weight_decay: float = 0.05
    warmup: int = 50
    val_prompt_frac: float = 0.1
    val_every: int = 100
    save_every: int = 100
    seed: int = 0
    max_tokens: int = 128
    n_queries: int = 4
    query_dim: int = 64
    token_dim: int = 96
    pooled_skip: bool = True
    dropout: float = 0.3
    icl_features: str = "adapter"  # adapter | adapter+pooled | pooled (control): see V0Config
    residual: bool = False  # icl logit = ablation logit (fixed) + icl head's
    flip: float = 0.0  # share of episodes whose scores are mirrored (1 - s): a model that is
    # good where the real one is bad, so the heads must read the profile, not recall prompts


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
        table = build_table(ds, states, val_prompt_frac=cfg.val_prompt_frac, seed=cfg.seed + i)
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


# ---- checkpoints -------------------------------------------------------------------------
def save_run(path: Path, modules: V0Modules, mcfg: V0Config, cfg: TrainConfig, state: dict, opt=None) -> None:
    save_checkpoint(path, {"model": mcfg.to_dict(), "training": {**asdict(cfg), **state}}, modules.state_dict())
    if opt is not None:
        flat = {}
        names = {id(p): n for n, p in modules.named_parameters()}
        for group in opt.param_groups:
            for p in group["params"]:
                for k, v in opt.state.get(p, {}).items():
                    flat[f"{names[id(p)]}.{k}"] = torch.as_tensor(v).clone()
        save_file(flat, str(path / "optimizer.safetensors"))


def load_optimizer(path: Path, modules: V0Modules, opt: torch.optim.Optimizer) -> None:
    file = path / "optimizer.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"optimizer state not found: {file}")
    flat = load_file(str(file))
    for n, p in modules.named_parameters():
        st = {k.rsplit(".", 1)[1]: v for k, v in flat.items() if k.rsplit(".", 1)[0] == n}
        if st:
            opt.state[p] = st


# ---- loop --------------------------------------------------------------------------------
def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    backbone: Backbone | None = None,
    progress: bool = True,
    until: int | None = None,
) -> dict:
    """Run (or continue) training; ``until`` stops early at that step (schedule unchanged)."""
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    backbone = backbone or Backbone(BackboneConfig(name_or_path=cfg.backbone, max_tokens=cfg.max_tokens))
    backbone.config.max_tokens = cfg.max_tokens
    mcfg = V0Config.for_backbone(backbone.hidden_size)
    mcfg.backbone = backbone.config
    mcfg.adapter.n_queries, mcfg.adapter.dim = cfg.n_queries, cfg.query_dim
    mcfg.adapter.token_dim = cfg.token_dim
    mcfg.adapter.pooled_skip = cfg.pooled_skip
    mcfg.adapter.dropout = cfg.dropout
    mcfg.icl_features, mcfg.residual, mcfg.icl.zero_init = cfg.icl_features, cfg.residual, cfg.residual
    mcfg.icl.in_dim = feature_width(cfg.icl_features, mcfg.adapter.out_dim, backbone.hidden_size)
    modules = V0Modules(mcfg)
    opt = torch.optim.AdamW(modules.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, best, history = 0, -1.0, []
    if resume and (out / "last" / "config.json").is_file():
        raw, tensors = load_checkpoint(out / "last")
        modules.load_state_dict(tensors)
        load_optimizer(out / "last", modules, opt)
        start = int(raw["training"]["step"])
        best = float(raw["training"]["best"])
        history = raw["training"]["history"]
        log.info("resuming from step %d", start)
    tables = load_tables(cfg, backbone)
    if mcfg.adapter.token_dim:
        if start == 0:
            mean, basis = fit_token_basis(tables, mcfg.adapter.token_dim, cfg.seed)
            modules.adapter.token_mean.copy_(mean)
            modules.adapter.token_basis.copy_(basis)
        for t in tables:
            project_states(t, modules.adapter)
    weights = np.array([1.0] * len(tables)) / len(tables)
    modules.train()
    stop = min(cfg.steps, until) if until is not None else cfg.steps
    bar = tqdm(range(start, stop), initial=start, total=cfg.steps, desc="train", disable=not progress)
    t0 = time.time()
    for step in bar:
        rng = np.random.default_rng([cfg.seed, step])
        torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout: same draws when resumed
        table = tables[rng.choice(len(tables), p=weights)]
        rows, episodes = sample_step(
            table, rng, n_models=cfg.models_per_step, profile_size=cfg.profile_size, query_size=cfg.query_size
        )
        flip = torch.as_tensor(rng.random(len(episodes)) < cfg.flip)[:, None]  # (E, 1)
        fa, fp = features(modules, table, rows)
        px, py, pm, qx, qy, qm = pad_episodes(fp, episodes)
        py, qy = torch.where(flip, 1 - py, py), torch.where(flip, 1 - qy, qy)
        base = modules.ablation(px, py, pm, qx)  # (E, Q)
        loss = episode_loss(base, qy, qm, cfg.alpha)
        px, _, _, qx, _, _ = pad_episodes(feature_of(cfg.icl_features, fa, fp), episodes)
        logits = modules.icl(px, py, pm, qx)
        if cfg.residual:
            logits = logits + base.detach()
        loss = loss + episode_loss(logits, qy, qm, cfg.alpha)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", ds=table.name[:10])
        done = step + 1
        if done % cfg.val_every == 0 or done == cfg.steps:
            val = validate(modules, tables, cfg)
            history.append({"step": done, "elapsed_s": round(time.time() - t0, 1), **val})
            log.info("step %d val %s", done, json.dumps(val))
            if val["score"] > best:
                best = val["score"]
                save_run(out / "best", modules, mcfg, cfg, {"step": done, "best": best, "validation": val})
        if done % cfg.save_every == 0 or done == stop:
            save_run(out / "last", modules, mcfg, cfg, {"step": done, "best": best, "history": history}, opt)
    (out / "history.json").write_text(json.dumps(history, indent=2))
    return {"best": best, "history": history}


# ---- CLI ---------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    parser.add_argument("--data", required=True, help="folder with the dataset folders (shared data format)")
    parser.add_argument("--datasets", nargs="+", default=d.datasets)
    parser.add_argument("--dapo-parts", nargs="+", default=d.dapo_parts, help="dapomath parts to train on")
    parser.add_argument("--max-prompts", type=int, default=d.max_prompts)
    parser.add_argument("--out", default=d.out, help="run folder (checkpoints)")
    parser.add_argument("--cache", default=d.cache, help="folder for cached backbone states")
    parser.add_argument("--backbone", default=d.backbone, help="sentence-transformers id or folder")
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--models-per-step", type=int, default=d.models_per_step)
    parser.add_argument("--profile-size", type=int, default=d.profile_size)
    parser.add_argument("--query-size", type=int, default=d.query_size)
    parser.add_argument("--alpha", type=float, default=d.alpha)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay)
    parser.add_argument("--dropout", type=float, default=d.dropout, help="adapter output dropout")
    parser.add_argument("--val-every", type=int, default=d.val_every)
    parser.add_argument("--save-every", type=int, default=d.save_every)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--max-tokens", type=int, default=d.max_tokens)
    parser.add_argument("--n-queries", type=int, default=d.n_queries)
    parser.add_argument("--query-dim", type=int, default=d.query_dim)
    parser.add_argument("--token-dim", type=int, default=d.token_dim, help="PCA width of token states (0: off)")
    parser.add_argument("--icl-features", choices=["adapter", "adapter+pooled", "pooled"], default=d.icl_features,
                        help="what the default head reads (pooled: a control without the adapter)")
    parser.add_argument("--flip", type=float, default=d.flip, help="share of training episodes with mirrored scores")
    parser.add_argument("--residual", action="store_true", help="default head's logit = ablation's + its own")
    parser.add_argument("--no-pooled-skip", dest="pooled_skip", action="store_false", help="adapter without the pooled skip")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last")
    parser.add_argument("--export", default=None, help="copy the best checkpoint here when done")


def export(src: Path, dst: str | Path) -> None:
    """Copy a checkpoint; folder arguments in its training record become relative paths."""
    raw, tensors = load_checkpoint(src)
    training = dict(raw.get("training", {}))
    for key in ("data", "out", "cache"):
        if key in training and os.path.isabs(str(training[key])):
            training[key] = os.path.relpath(training[key])
    save_checkpoint(dst, {**{k: v for k, v in raw.items() if k != "format"}, "training": training}, tensors)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    fields = TrainConfig.__dataclass_fields__
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    result = train(cfg, resume=args.resume)
    if args.export:
        export(Path(cfg.out) / "best", args.export)
        print(f"exported best checkpoint to {args.export}")
    print(json.dumps({"best_validation_score": result["best"]}))
    return 0
