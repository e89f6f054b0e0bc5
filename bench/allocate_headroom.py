"""How good must pass-rate predictions be for V0-driven rollout budgets to pay? (no V0 involved)

    python -m bench.allocate_headroom --data ../shared/data [--budget-per-prompt 8] [--draws 20]

DAPO-Math, per policy: the eval prompts (``train`` rows) and the profile rows (``context``), with
their true pass rates y. Synthetic predictions of known quality replace V0's:
``p_hat = sigmoid(logit(y') + sigma * e)``, e ~ N(0, 1), y' = y clipped to [0.02, 0.98], for a
grid of noise levels sigma (0: p_hat = y, the oracle). For each level it reports the mean per-policy
Intra-AUC of p_hat (label: y >= 0.5, as ``bench value``) and the informative groups, against
uniform allocation, of exact greedy on p_hat (``allocate``) and of the uncertainty-aware
allocation (``allocate_robust``, its posterior fitted on the same policy's context rows and
their predictions at that noise level), B x n rollouts per policy, min 2, max 128. Read it
beside ``v0-gateway bench allocate``: the AUC V0 reaches on a set tells where on this curve it is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from valuemodel.allocate import allocate, allocate_robust, informative
from valuemodel.allocate_fit import fit_posterior
from valuemodel.data import load_dataset
from valuemodel.difficulty import logit, sigmoid
from valuemodel.metrics import auc

SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def noisy(y: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    if sigma == 0:
        return y  # the oracle, unclipped (as in ``bench allocate``)
    return sigmoid(logit(np.clip(y, 0.02, 0.98)) + sigma * rng.standard_normal(len(y)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder holding dapomath/")
    ap.add_argument("--budget-per-prompt", type=int, default=8)
    ap.add_argument("--draws", type=int, default=20, help="noise draws per level")
    ap.add_argument("--trials", type=int, default=10, help="rollouts behind each pass rate")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    ds = load_dataset(Path(args.data) / "dapomath")
    out = ds.outcomes
    kw = {"min_budget": 2, "max_budget": 128}
    rates = {(m, part): g["score"].to_numpy(float) for (m, part), g in out.groupby(["model", "part"])}  # pass rates
    results = {}
    for part in ("train", "context"):
        rows = []
        for sigma in SIGMAS:
            aucs, tot = [], {"uniform": 0.0, "greedy": 0.0, "robust": 0.0}
            for d in range(args.draws):
                rng = np.random.default_rng([d, int(sigma * 100)])
                for model in sorted(out["model"].unique()):
                    y, ctx = rates.get((model, part), np.empty(0)), rates[(model, "context")]
                    if len(y) < 2:
                        continue
                    p = noisy(y, sigma, rng)
                    post = fit_posterior(noisy(ctx, sigma, rng), ctx, args.trials, prior_mean=float(ctx.mean()))
                    total = args.budget_per_prompt * len(y)
                    a = auc(p, y)
                    if not np.isnan(a):
                        aucs.append(a)
                    tot["uniform"] += informative(y, allocate(np.full(len(y), 0.5), total, **kw))
                    tot["greedy"] += informative(y, allocate(p, total, **kw))
                    tot["robust"] += informative(y, allocate_robust(p, total, posterior=post,
                                                                    prior_mean=float(ctx.mean()), **kw).budgets)
            row = {"sigma": sigma, "auc": float(np.mean(aucs)),
                   "greedy": tot["greedy"] / tot["uniform"], "robust": tot["robust"] / tot["uniform"]}
            rows.append(row)
            print(f"{part:<8} sigma {sigma:>4.1f}  Intra-AUC {row['auc']:.3f}  greedy {row['greedy']:.4f}x  "
                  f"robust {row['robust']:.4f}x uniform", flush=True)
        results[part] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
