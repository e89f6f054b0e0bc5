"""Fit the shared-difficulty regressor and make ``difficulty`` the checkpoint's default head
(CLI: ``v0-gateway train-difficulty``).

One ridge regressor per licensed source (soft labels: a prompt's mean score over that source's
models) on every-layer pooled backbone features; written next to the adapter weights as
``difficulty.safetensors`` (numpy arrays ``mean``, ``scale``, ``coef`` (F, D), ``bias`` (D,)), and
``config.json`` records the head's config, the backbone the features come from and the recipe.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .checkpoint import CONFIG_FILE
from .data import load_dataset
from .difficulty import FoldedStats, fit_sources, hash_projection, prompt_targets, standardiser
from .encoder_spec import identity
from .heads.difficulty import DifficultyConfig
from .layer_cache import get_layers
from .licences import SHIPPABLE
from .model import DIFFICULTY_FILE, V0
from .neighbours import Neighbours

SOURCES = SHIPPABLE  # valuemodel/licences.py: licences that allow shipping


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="folder with the dataset folders")
    parser.add_argument("--weights", required=True, help="checkpoint folder to extend (adapter weights)")
    parser.add_argument("--backbone", default=None, help="load the checkpoint's backbone from here (same weights)")
    parser.add_argument("--device", default="cpu", help="where the backbone encodes: cpu or cuda")
    parser.add_argument("--out", default=None, help="write the extended checkpoint here (default: in place)")
    parser.add_argument("--cache", default="cache/layers", help="every-layer feature cache")
    parser.add_argument("--datasets", nargs="+", default=list(SOURCES))
    parser.add_argument("--ridge", type=float, default=10.0)
    parser.add_argument("--mode", choices=["per-source", "pooled"], default="per-source")
    parser.add_argument("--knn", choices=["pooled", "adapter", "none"], default="none")
    parser.add_argument("--knn-weight", type=float, default=0.5)
    parser.add_argument("--context", choices=["icl", "noadapter", "none"], default="icl")
    parser.add_argument("--context-weight", type=float, default=0.3)
    parser.add_argument("--neighbours", nargs="*", default=[], metavar="DATASET",
                        help="sources whose prompts also give neighbour difficulty outputs (valuemodel/neighbours.py)")
    parser.add_argument("--nb-k", type=int, default=64)
    parser.add_argument("--nb-temperature", type=float, default=0.05)
    parser.add_argument("--nb-dim", type=int, default=None, help="neighbour keys in this many principal directions")
    parser.add_argument("--blend", choices=["fixed", "stacked"], default="fixed",
                        help="fixed: --context-weight; stacked: blend weights fitted per profile")
    parser.add_argument("--blend-precision", type=float, default=20.0)
    parser.add_argument("--slope-precision", type=float, default=50.0)
    parser.add_argument("--cross-fit", action="store_true", help="score profile rows out of their hash fold")


def source_rows(data: str, name: str):
    ds = load_dataset(Path(data) / name)
    if "part" in ds.outcomes.columns:  # DAPO-Math: context rows only
        ds = ds.select_rows((ds.outcomes["part"] == "context").to_numpy())
    return ds


def run(args: argparse.Namespace) -> int:
    v0 = V0.load(args.weights, head="knn", backbone_path=args.backbone, device=args.device)
    b = v0.backbone
    cfg = DifficultyConfig(n_layers=b.n_layers, hidden_size=b.hidden_size, adapter_dim=v0.config.adapter.out_dim,
                           knn=args.knn, knn_weight=args.knn_weight, slope_precision=args.slope_precision,
                           context=args.context, context_weight=args.context_weight, cross_fit=args.cross_fit,
                           blend=args.blend, blend_precision=args.blend_precision, neighbours=bool(args.neighbours))
    feats, targets = {}, {}
    for name in args.datasets:
        ds = source_rows(args.data, name)
        pids, y, _ = prompt_targets(ds.outcomes)
        cached = get_layers(v0, name, {p: ds.prompts[p] for p in pids}, args.cache)
        feats[name] = cached["layers"].astype(np.float32).reshape(len(pids), -1)  # (P, (L+1) H)
        targets[name] = y
        print(f"{name}: {len(pids)} prompts, mean soft label {y.mean():.3f}", flush=True)
    mean, scale = standardiser(np.concatenate([feats[n] for n in args.datasets]))
    proj = hash_projection(len(mean))
    stats = {n: FoldedStats(mean, scale, proj).part(feats[n], targets[n], np.ones(len(targets[n]))) for n in args.datasets}
    regressor = fit_sources(stats, args.ridge, args.mode)
    unknown = sorted(set(args.neighbours) - set(args.datasets))
    if unknown:
        raise SystemExit(f"--neighbours names sources not in --datasets: {unknown}")
    if args.neighbours:
        last = slice((b.n_layers - 1) * b.hidden_size, b.n_layers * b.hidden_size)
        parts = [(feats[n][:, last], targets[n]) for n in sorted(args.neighbours)]
        regressor.neighbours = Neighbours.build(parts, k=args.nb_k, temperature=args.nb_temperature, dim=args.nb_dim)
    out = Path(args.out or args.weights)
    v0.config.difficulty = cfg
    v0.config.default_head = "difficulty"
    v0.regressor = regressor
    raw = json.loads((Path(args.weights) / CONFIG_FILE).read_text())
    raw.pop("format", None)
    raw.pop("model", None)
    raw["difficulty_training"] = {
        "backbone": b.config.name_or_path, "backbone_weights_sha256": b.weights_key, "max_tokens": b.config.max_tokens,
        "backbone_identity": identity(b),
        "features": f"masked mean of each of {b.n_layers} layers (embeddings + transformer layers), flattened",
        "sources": sorted(args.datasets),
        "outputs": (sorted(args.datasets) if args.mode == "per-source" else ["pooled"])
        + [f"neighbours:{n}" for n in sorted(args.neighbours)],
        "neighbours": {"sources": sorted(args.neighbours), "k": args.nb_k, "temperature": args.nb_temperature,
                       "keys": "last layer's masked mean, unit, float16", "dim": args.nb_dim} if args.neighbours else None,
        "prompts": {n: int(len(targets[n])) for n in args.datasets}, "ridge": args.ridge, "mode": args.mode,
        "labels": "soft: a prompt's mean score over the source's models (DAPO-Math: context rows)",
        "head": asdict(cfg),
    }
    v0.save(out, raw)
    D = regressor.coef.shape[1] + (regressor.neighbours.n_sources if regressor.neighbours is not None else 0)
    print(f"wrote {out / DIFFICULTY_FILE} (D = {D}) and {out / CONFIG_FILE}")
    return 0
