"""Intra-AUC benchmark of V0 heads (CLI: ``v0-gateway bench value``).

For every model of the eval set, its profile is ``--profile-size`` rows drawn (seeded) from
``--profiles``; P(success) is predicted for all eval prompts and the Intra-AUC (ROC AUC against
eval scores binarised at 0.5, per model) is reported with its mean over models. The chosen head
is reported next to the kNN baseline and the adapter-free ablation.

When ``--profiles`` and ``--eval`` are the same folder, the folder is split: DAPO-Math style
data (a ``part`` column) uses the ``context`` rows as profiles and the ``train`` rows as eval;
other data is split prompt-disjointly in two halves (``--split-frac``, ``--seed``).
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from .data import Dataset, load_dataset, split_profiles_eval
from .metrics import intra_auc
from .model import FEATURES, V0, feature_of

FeatureCache = dict[str, torch.Tensor]  # prompt_id -> (F,)


@torch.no_grad()
def encode_features(v0: V0, texts: dict[str, str], batch_size: int = 32) -> dict[str, FeatureCache]:
    """One backbone pass per text, every feature kind: {"adapter": {...}, "pooled": {...}, ...}."""
    ids = sorted(texts, key=lambda p: (len(texts[p]), p))
    out: dict[str, FeatureCache] = {kind: {} for kind in FEATURES}
    for s in range(0, len(ids), batch_size):
        chunk = ids[s : s + batch_size]
        enc = v0.backbone.encode([texts[p] for p in chunk])
        fa = v0.modules.adapter(enc.tokens.to(v0.device), enc.mask.to(v0.device), enc.pooled.to(v0.device)).cpu()
        for kind in FEATURES:
            f = feature_of(kind, fa, enc.pooled.cpu(), enc.layers.cpu())
            for i, p in enumerate(chunk):
                out[kind][p] = f[i]
    return out


@torch.no_grad()
def encode_features_cached(v0: V0, name: str, texts: dict[str, str], cache: str | Path, chunk: int = 256) -> dict[str, FeatureCache]:
    """Like ``encode_features``, reusing (or filling) the backbone-state cache of ``train``."""
    from .cache import get_states

    states = get_states(v0.backbone, name, texts, cache)
    index = states.index()
    ids = sorted(texts)
    out: dict[str, FeatureCache] = {kind: {} for kind in FEATURES}
    for s in range(0, len(ids), chunk):
        part = ids[s : s + chunk]
        tokens, mask, pooled = states.batch(torch.as_tensor([index[p] for p in part]))
        fa = v0.modules.adapter(tokens, mask, pooled)
        for kind in FEATURES:
            if kind == "layers+adapter":  # the token-state cache keeps no per-layer means
                continue
            f = feature_of(kind, fa, pooled)
            for i, p in enumerate(part):
                out[kind][p] = f[i]
    return out


def profile_rows(profiles: Dataset, model: str, size: int, seed: int):
    rows = profiles.outcomes[profiles.outcomes["model"] == model]
    rng = np.random.default_rng([seed, zlib.crc32(model.encode())])
    idx = rng.choice(len(rows), size=min(size, len(rows)), replace=False)
    pick = rows.iloc[np.sort(idx)]
    return pick["prompt_id"].tolist(), pick["score"].to_numpy(dtype=np.float32)


def predict_matrix(
    v0: V0,
    profiles: Dataset,
    eval: Dataset,
    *,
    profile_size: int = 256,
    seed: int = 0,
    head: str | None = None,
    feature_cache: FeatureCache | None = None,
) -> tuple[list[str], list[str], np.ndarray]:
    """(models, eval prompt ids, P (M, Q)) for the models present in both datasets."""
    if head is not None and head != v0.head_name:
        v0 = v0.with_head(head)
    models = [m for m in eval.models if m in set(profiles.outcomes["model"])]
    prompt_ids = sorted(set(eval.outcomes["prompt_id"]))
    picks = {m: profile_rows(profiles, m, profile_size, seed) for m in models}
    cache = dict(feature_cache or {})
    missing = {p: profiles.prompts[p] for m in models for p in picks[m][0] if p not in cache}
    missing.update({p: eval.prompts[p] for p in prompt_ids if p not in cache})
    if missing:
        order = list(missing)
        cache.update(zip(order, v0.encode([missing[p] for p in order])))
    states = [v0.fit_profile(torch.stack([cache[p] for p in picks[m][0]]), picks[m][1]) for m in models]
    query = torch.stack([cache[p] for p in prompt_ids])  # (Q, F)
    return models, prompt_ids, v0.predict(states, query)


def head_auc(models, prompt_ids, P, eval: Dataset) -> tuple[float, dict[str, float]]:
    col = {p: i for i, p in enumerate(prompt_ids)}
    per = {}
    for i, m in enumerate(models):
        rows = eval.outcomes[eval.outcomes["model"] == m]
        per[m] = (P[i, rows["prompt_id"].map(col).to_numpy()], rows["score"].to_numpy())
    return intra_auc(per)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", required=True, help="dataset folder the profiles are drawn from")
    parser.add_argument("--eval", required=True, help="dataset folder with the eval prompts and outcomes")
    parser.add_argument("--profile-size", type=int, default=256)
    parser.add_argument("--head", default=None, help="headline head (default: the checkpoint's)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--weights", default=None, help="checkpoint folder (default: shipped weights)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-frac", type=float, default=0.5, help="profile share when --profiles == --eval")
    parser.add_argument("--cache", default=None, help="reuse/fill backbone-state cache here (as train --cache)")
    parser.add_argument("--tabpfn", action="store_true", help="also run the tabpfn head (needs a checkpoint)")


def run(args: argparse.Namespace) -> int:
    t0 = time.time()
    v0 = V0.load(args.weights, head=args.head)
    profiles, ev = load_dataset(args.profiles), load_dataset(args.eval)
    note = "separate profile and eval sets"
    if Path(args.profiles).resolve() == Path(args.eval).resolve():
        profiles, ev, note = split_profiles_eval(profiles, args.split_frac, args.seed)
    print(f"{ev.name}: {note}; {len(ev.models)} models, {len(set(ev.outcomes['prompt_id']))} eval prompts")
    heads = [v0.head_name] + [h for h in ("icl", "knn", "noadapter") if h != v0.head_name]
    if args.tabpfn and "tabpfn" not in heads:
        heads.append("tabpfn")
    texts = {**profiles.prompts, **ev.prompts}
    needed = set(ev.outcomes["prompt_id"]) | set(profiles.outcomes["prompt_id"])
    needed_texts = {p: texts[p] for p in needed}
    if args.cache:
        feats = encode_features_cached(v0, Path(args.eval).name, needed_texts, args.cache)
    else:
        feats = encode_features(v0, needed_texts)
    result = {"default_head": v0.head_name, "note": note, "profile_size": args.profile_size, "heads": {}}
    runs = [(h, h, None) for h in heads] + [("knn@adapter", "knn", "adapter")]
    for label, head, kind in runs:
        model = v0.with_head(head, features=kind)
        kind = model.features
        models, pids, P = predict_matrix(
            model, profiles, ev, profile_size=args.profile_size, seed=args.seed, feature_cache=feats.get(kind)
        )
        mean, per = head_auc(models, pids, P, ev)
        result["heads"][label] = {"mean_auc": mean, "features": kind, "per_model": per}
        print(f"  {label:<12} features={kind:<8} mean Intra-AUC {mean:.4f}")
    result["elapsed_s"] = round(time.time() - t0, 1)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0

