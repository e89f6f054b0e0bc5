"""Prompt selection as the policy moves: a fresh profile against a stale one (DAPO-Math).

    OMP_NUM_THREADS=1 python -m bench.select_stale --data ../shared/data/dapomath --json out/select_stale.json

DAPO-Math has each policy at GRPO steps 16, 64 and 256. The step-T prompts are scored as in
``v0-gateway bench select`` (keep 1/4, 1/2, 3/4 of pools of 32; expected informative groups at
G = 8 from the true step-T pass rates), with V0's prior from a 256-row profile of the same policy
at step T (fresh: the other prompt-disjoint folds of its context rows) or at an earlier step S
(stale: the same folds of the step-S context rows, so the profile never holds an eval prompt).
The prior's strength, shrinkage and mean come from the profile used, as a training loop that
did not refresh its profile would have them. Pairs: 16 -> 64 (the question asked), 64 -> 256
and 16 -> 256. Both DAPO-Math sets: the context rows (4 folds) and the train rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from valuemodel.data import load_dataset
from valuemodel.model import V0
from valuemodel.select_bench import KEEPS, context_tasks, encode_all, evaluate, held_out_tasks

PAIRS = ((64, 64), (16, 64), (256, 256), (64, 256), (16, 256))  # (profile step, eval step)
SHOWN = ("v0", "v0_history_k2", "oracle")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="the dapomath folder")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    opts = argparse.Namespace(profile_size=256, group_size=8, pool_size=32, trials=10, folds=4,
                              repeats=args.repeats, history_draws=20, history=[0, 2, 4], evidence_scale=1.0)
    v0, ds = V0.load(), load_dataset(args.data)
    feats = encode_all(v0, [ds])
    bases = sorted({m.split("@")[0] for m in ds.models})
    out: dict = {}
    fresh: dict[tuple[str, int], dict] = {}  # (set, eval step) -> per-prompt contributions of the fresh profile
    boot = {}
    for prof_step, eval_step in PAIRS:
        targets = [f"{b}@{eval_step}" for b in bases]
        source = {f"{b}@{eval_step}": f"{b}@{prof_step}" for b in bases}
        for name, tasks in (("context", context_tasks(ds, targets, opts.folds, source)),
                            ("train", held_out_tasks(ds, ds, targets, "train", source))):
            contrib: dict = {}
            r = evaluate(v0, feats, tasks, opts, contrib)
            auc = sum(p["auc"] for p in r["prior"].values()) / len(r["prior"])
            key = f"{name}: step {prof_step} profile -> step {eval_step}"
            out[key] = {"ratio": r["ratio"], "ci90": r["ci90"], "auc": round(auc, 3), "prior": r["prior"]}
            if prof_step == eval_step:
                fresh[(name, eval_step)] = contrib
            else:  # the same prompts and pools: stale / fresh, paired bootstrap over prompts
                base = fresh[(name, eval_step)]
                n = len(base["keep_0.25"]["v0"])
                idx = boot.setdefault(n, np.random.default_rng(0).integers(0, n, size=(2000, n)))
                out[key]["v0_stale_over_fresh"] = {
                    k: [round(float(x), 4) for x in (contrib[k]["v0"].sum() / base[k]["v0"].sum(), *np.quantile(
                        contrib[k]["v0"][idx].sum(1) / base[k]["v0"][idx].sum(1), [0.05, 0.95]))] for k in contrib}
            cells = "  ".join(f"keep {k}: " + " ".join(f"{m} {r['ratio'][f'keep_{k}'][m]:.3f}" for m in SHOWN)
                              for k in KEEPS[:2])
            print(f"{key:<42} AUC {auc:.3f}  {cells}", flush=True)
            if "v0_stale_over_fresh" in out[key]:
                print("    v0 stale / fresh: " + "  ".join(f"{k} {v[0]:.3f} ({v[1]:.3f}-{v[2]:.3f})"
                                                      for k, v in out[key]["v0_stale_over_fresh"].items()), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
