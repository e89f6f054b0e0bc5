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
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .backbone import Backbone, BackboneConfig
from .checkpoint import load_checkpoint
from .encoder_spec import check_identity, recorded_identity
from .episodes import pad_episodes, sample_step
from .model import V0Config, V0Modules, feature_of, feature_width

from .run_files import export, load_optimizer, save_run
from .train_config import LICENSED_DATASETS, TrainConfig
from .train_steps import episode_loss, features, fit_token_basis, load_tables, project_states, validate

log = logging.getLogger(__name__)

__all__ = ["LICENSED_DATASETS", "TrainConfig", "add_arguments", "episode_loss", "run", "train"]


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
    backbone = backbone or Backbone(BackboneConfig(name_or_path=cfg.backbone, max_tokens=cfg.max_tokens,
                                                   pooling=cfg.pooling, prompt=cfg.prompt), device=cfg.device)
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
        check_identity(recorded_identity(raw), backbone, str(out / "last"))
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
                save_run(out / "best", modules, mcfg, cfg, backbone, {"step": done, "best": best, "validation": val})
        if done % cfg.save_every == 0 or done == stop:
            save_run(out / "last", modules, mcfg, cfg, backbone, {"step": done, "best": best, "history": history}, opt)
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
    parser.add_argument("--device", default=d.device, help="where the backbone encodes: cpu or cuda")
    parser.add_argument("--pooling", default=d.pooling, help="mean|cls|lasttoken|max[+normalize]|modules (default: the folder's)")
    parser.add_argument("--prompt", default=d.prompt, help="instruction before every text (default: the folder's query prompt)")
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
