"""Prompt-disjoint Intra-AUC of V0 heads on cached every-layer features (valuemodel/cv.py).

    python -m bench.value_cv --data ../shared/data --cache cache/layers --sets val dapomath routerbench_train \
        --seeds 0 1 2 --json out/value_cv.json

``val``: the prompts the shipped adapter's training run held out of ``--val-sets`` (default
llmrouter_dcrouter9 and routellm_2model), held out of the regressor and the profiles too;
``val-dapo``: the same for the DAPO-Math context rows. ``dapomath``: 5-fold CV over the context
rows. ``routerbench_train`` (research only, never trained on): 3 prompt-disjoint halves. The
regressor is trained on ``--sources`` (default: the shippable ones, valuemodel/licences.py) plus
DAPO-Math context rows, less whatever is scored; evaluation-only sets (alpacaeval2_wgpt4t) may be
named in either list for research runs.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from valuemodel import V0, cv
from valuemodel.cv import (pooled, dapo_cv, neighbour_part, difficulty_method, features_from_cache, head_method, oracle_others,
                           ridge_part, split_eval, summarise, merge, score_models, task_rate,
                           training_val_prompts)
from valuemodel.data import load_dataset
from valuemodel.difficulty import FoldedStats, fit_sources, hash_projection, standardiser
from valuemodel.heads.difficulty import DifficultyConfig
from valuemodel.layer_cache import get_layers
from valuemodel.licences import SHIPPABLE, split_index
from valuemodel.neighbours import Neighbours

SOURCES = [n for n in SHIPPABLE if n != "dapomath"]  # the regressor's sources beside DAPO-Math
VAL_SETS = ["llmrouter_dcrouter9", "routellm_2model"]


def variants(base: DifficultyConfig) -> dict[str, DifficultyConfig]:
    """The shipped head (``difficulty``) and its ablations; the icl head alone is 'difficulty off'."""
    return {
        "difficulty": base,
        "difficulty-noknn": replace(base, knn="none"),
        "difficulty-noctx": replace(base, context="none"),
        "difficulty-only": replace(base, context="none", knn="none"),
        "difficulty-noadapter": replace(base, context="noadapter"),
        "difficulty-lastlayer": replace(base, layers="last"),
        "difficulty-lastlayer-noadapter": replace(base, layers="last", context="noadapter"),
        "difficulty-nb": replace(base, neighbours=True),
        "difficulty-nb-only": replace(base, neighbours=True, context="none", knn="none"),
        "difficulty-stacked": replace(base, blend="stacked"),
        "difficulty-stacked-noadapter": replace(base, blend="stacked", context="noadapter"),
    }


def per_source(row: dict, models: list[str]) -> dict:
    """A method's summary restricted to ``models``: mean AUC on the oracle's rows."""
    return {"oracle_rows_auc": float(np.nanmean([row["oracle_rows_per_model"][m] for m in models
                                                   if m in row["oracle_rows_per_model"]]))}


def ceiling(d: str, runs: list[dict], table: dict) -> None:
    """On the rows where another model answered the prompt: each method's AUC and the share of
    the gap from task_rate to the oracle (other models' outcomes) that it recovers."""
    on = {name: float(np.mean([r[name]["oracle_rows_auc"] for r in runs])) for name in runs[0]}
    lo, hi = on["task_rate"], on["oracle_others"]
    for name, v in on.items():
        table.setdefault(name, {})["oracle_rows_mean"] = v
        share = (v - lo) / (hi - lo) if hi > lo else float("nan")
        table[name]["ceiling_share"] = share
        print(f"{d:<20} on oracle rows {name:<20} {v:.3f}  share of task_rate→oracle gap {share:+.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", default="cache/layers")
    ap.add_argument("--sets", nargs="+", default=["val", "dapomath", "routerbench_train"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sources", nargs="+", default=SOURCES, help="the regressor's sources beside DAPO-Math")
    ap.add_argument("--val-sets", nargs="+", default=VAL_SETS, help="the datasets `val` scores")
    ap.add_argument("--ridge", type=float, default=10.0)
    ap.add_argument("--knn-weight", type=float, default=0.5)
    ap.add_argument("--slope-precision", type=float, default=50.0)
    ap.add_argument("--mode", choices=["per-source", "pooled"], default="per-source")
    ap.add_argument("--context-weight", type=float, default=0.3)
    ap.add_argument("--nb-k", type=int, default=64, help="neighbour difficulty: neighbours per source")
    ap.add_argument("--nb-temperature", type=float, default=0.05)
    ap.add_argument("--nb-dim", type=int, default=None, help="neighbour keys in this many principal directions")
    ap.add_argument("--nb-sources", nargs="*", default=[], help="neighbour difficulty from these sources only (default all)")
    ap.add_argument("--blend-precision", type=float, default=20.0, help="stacked blend: prior precision")
    ap.add_argument("--cross-fit", action="store_true", help="score profile rows with out-of-fold regressors")
    ap.add_argument("--pool", type=float, nargs="*", default=[], help="also serve-time pooling with these weights")
    ap.add_argument("--slope", type=float, default=0.0, help="calibration prior mean of every slope")
    ap.add_argument("--profile-size", type=int, default=256)
    ap.add_argument("--json", default=None)
    ap.add_argument("--weights", default=None, help="checkpoint whose adapter and in-context heads are used")
    ap.add_argument("--only", nargs="*", default=[], help="run only these methods (plus the pairs', task_rate and oracle_others)")
    ap.add_argument("--pairs", nargs="*", default=[], help="METHOD:BASELINE pairs to bootstrap (paired, per run)")
    args = ap.parse_args()

    cv.PAIRS[:] = [(a, b) for a, b in (x.split(":") for x in args.pairs)]
    v0 = V0.load(args.weights)
    srcs, VAL = args.sources, args.val_sets
    names = sorted(set(srcs) | set(VAL) | {"dapomath"} | {s for s in args.sets if not s.startswith("val")})
    ds = {n: load_dataset(f"{args.data}/{n}") for n in names}
    feats = {n: features_from_cache(get_layers(v0, n, ds[n].prompts, args.cache)) for n in names}
    cfg = DifficultyConfig(knn="pooled", cross_fit=args.cross_fit, slope=args.slope, knn_weight=args.knn_weight,
                           slope_precision=args.slope_precision, context_weight=args.context_weight,
                           blend_precision=args.blend_precision)
    H, A = cfg.hidden_size, cfg.adapter_dim
    regs = {"all": slice(0, cfg.layer_cols), "last": slice(cfg.layer_cols - H, cfg.layer_cols)}
    mean, scale = standardiser(np.concatenate([feats[n].x[:, : cfg.layer_cols] for n in srcs]))
    dctx = ds["dapomath"].outcomes[ds["dapomath"].outcomes["part"] == "context"]
    dapo_ctx = ds["dapomath"].select_rows((ds["dapomath"].outcomes["part"] == "context").to_numpy())

    def sources(kind: str) -> dict[str, FoldedStats]:
        """Ridge statistics per licensed source (DAPO-Math: context rows)."""
        proj = hash_projection(regs[kind].stop - regs[kind].start)
        new = lambda: FoldedStats(mean[regs[kind]], scale[regs[kind]], proj)  # noqa: E731
        out = {n: ridge_part(new(), feats[n], ds[n].outcomes, 1.0, regs[kind]) for n in srcs}
        return out | {"dapomath": ridge_part(new(), feats["dapomath"], dctx, 1.0, regs[kind])}

    last = slice(cfg.layer_cols - H, cfg.layer_cols)
    nb_parts = {n: neighbour_part(feats[n], ds[n].outcomes, last) for n in srcs}
    nb_parts["dapomath"] = neighbour_part(feats["dapomath"], dctx, last)

    def with_neighbours(regs: dict, drop: str = "", held=frozenset()) -> dict:
        """The regressors of every input kind with neighbour outputs from the training prompts
        (source ``drop`` less the ``held`` prompts)."""
        parts = []
        for n in sorted(args.nb_sources or nb_parts):
            pids, x, y = nb_parts[n]
            keep = ~np.isin(pids, list(held)) if n == drop else np.ones(len(pids), bool)
            parts.append((x[keep], y[keep]))
        nb = Neighbours.build(parts, k=args.nb_k, temperature=args.nb_temperature, dim=args.nb_dim)
        return {k: replace(r, neighbours=nb) for k, r in regs.items()}

    def methods(d: str) -> dict:
        pooled_cols = slice(cfg.layer_cols - H, cfg.layer_cols)
        adapter = slice(cfg.layer_cols, cfg.layer_cols + A)
        m = {"task_rate": task_rate, "knn": head_method(v0.with_head("knn").head, pooled_cols),
             "icl": head_method(v0.with_head("icl").head, adapter), "noadapter": head_method(v0.with_head("noadapter").head, pooled_cols)}
        held = {"val": [ds[n] for n in VAL], "val-dapo": [dapo_ctx], "dapomath": [dapo_ctx]}
        m["oracle_others"] = oracle_others(*(held[d] if d in held else [ds[d]]))
        ctx = {"icl": v0.with_head("icl").head, "noadapter": v0.with_head("noadapter").head}
        m |= {k: difficulty_method(c, ctx) for k, c in variants(cfg).items()}
        for w in args.pool:  # serve-time pooling over all candidates' profiles
            m[f"difficulty+pool{w:g}"] = pooled(m["difficulty"], pooled_cols, w)
        keep = set(args.only or m) | {x for pair in args.pairs for x in pair.split(":")} | {"oracle_others", "task_rate"}
        return {k: v for k, v in m.items() if k in keep}

    results: dict = {"args": vars(args), "sets": {}}
    full = {k: sources(k) for k in regs}
    solved = {k: ({n: st.solve(args.ridge) for n, st in full[k].items()} if args.mode == "per-source" else {}) for k in regs}
    for d in args.sets:
        runs = []
        for seed in args.seeds:
            ms = methods(d)
            if d == "dapomath":
                src = {k: {n: v for n, v in full[k].items() if n != "dapomath"} for k in regs}
                runs.append(dapo_cv(ms, feats[d], ds[d], src, ridge=args.ridge, cols=regs, mode=args.mode, seed=seed,
                                    size=args.profile_size, solved=solved,
                                    attach=lambda r, held: with_neighbours(r, "dapomath", held)))
            elif d in ("val", "val-dapo"):
                parts = []
                for n in (VAL if d == "val" else ("dapomath",)):
                    held = training_val_prompts(ds[n], split_index(n, 0))
                    rows = ds[n].outcomes if n != "dapomath" else dctx
                    prof, ev = rows[~rows["prompt_id"].isin(held)], rows[rows["prompt_id"].isin(held)]
                    reg = {}
                    for k in regs:  # the held-out prompts leave their source's regressor
                        if n not in full[k]:  # an evaluation-only set the regressor never saw
                            reg[k] = fit_sources(full[k], args.ridge, args.mode, solved=solved[k])
                            continue
                        st = {**full[k], n: ridge_part(full[k][n].copy(), feats[n], ev, 1.0, regs[k], sign=-1.0)}
                        keep = {x: v for x, v in solved[k].items() if x != n}
                        reg[k] = fit_sources(st, args.ridge, args.mode, solved=keep)
                    reg = with_neighbours(reg, n, set(held))
                    parts.append(score_models(ms, feats[n], ds[n], prof, ev, args.profile_size, seed, reg))
                runs.append(summarise(merge(parts)))
            else:
                reg = with_neighbours({k: fit_sources(full[k], args.ridge, args.mode, solved=solved[k]) for k in regs})
                runs.append(split_eval(ms, feats[d], ds[d], reg, seed=seed, size=args.profile_size))
        table = {}
        boot = [r.pop("_bootstrap", {}) for r in runs]
        for pair in boot[0]:
            print(f"{d:<20} bootstrap {pair:<40} " + "  ".join(f"{b[pair][0]:+.3f} [{b[pair][1]:+.3f}, {b[pair][2]:+.3f}]" for b in boot), flush=True)
        for name in runs[0]:
            vals = [r[name]["mean_auc"] for r in runs]
            row = {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, "runs": vals}
            if "grouped_auc" in runs[0][name]:
                g = [r[name]["grouped_auc"] for r in runs]
                row |= {"grouped_mean": float(np.mean(g)), "grouped_sd": float(np.std(g, ddof=1)) if len(g) > 1 else 0.0}
            table[name] = row
            extra = f"   grouped {row['grouped_mean']:.3f} ± {row['grouped_sd']:.3f}" if "grouped_mean" in row else ""
            print(f"{d:<20} {name:<28} {row['mean']:.3f} ± {row['sd']:.3f}  {' '.join(f'{v:.3f}' for v in vals)}{extra}", flush=True)
        ceiling(d, runs, table)
        if d == "val":  # the same per source (each source has its own models)
            for n in VAL:
                ceiling(f"val:{n}", [{k: per_source(v, ds[n].models) for k, v in r.items()} for r in runs], table.setdefault(n, {}))
        results["sets"][d] = {"table": table, "runs": runs, "bootstrap": boot}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
