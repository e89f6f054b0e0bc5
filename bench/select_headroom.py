"""How good must pass-rate predictions be for prompt selection to reach a target? (no V0 involved)

    python -m bench.select_headroom --data ../shared/data/dapomath [--draws 20] [--json PATH]

DAPO-Math, per policy, pools of 32 prompts with their true pass rates y (context rows and train
rows). Synthetic predictions of known quality replace V0's: ``p_hat = sigmoid(logit(y') + sigma
* e)``, e ~ N(0, 1), y' = y clipped to [0.02, 0.98]. Each pool keeps the share whose p_hat is
closest to 0.5 (what V0's selector does with a symmetric prior, see ``valuemodel.allocate``),
scored by the expected informative groups at G = 8 from y, against a random share. Prints the
mean per-policy Intra-AUC of p_hat (label y >= 0.5, as ``bench value``) beside the ratios, so
V0's measured AUC places it on the curve.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from valuemodel.data import load_dataset
from valuemodel.difficulty import logit, sigmoid
from valuemodel.metrics import auc
from valuemodel.select_bench import top_value

SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
KEEPS = (0.25, 0.5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="the dapomath folder")
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out = load_dataset(args.data).outcomes
    g, results = args.group_size, {}
    for part in ("context", "train"):
        rows = []
        for sigma in SIGMAS:
            aucs, got, base = [], dict.fromkeys(KEEPS, 0.0), dict.fromkeys(KEEPS, 0.0)
            for d in range(args.draws):
                rng = np.random.default_rng([d, int(sigma * 100)])
                for _, grp in out[out["part"] == part].groupby("model"):
                    y = grp["score"].to_numpy(float)
                    noise = sigma * rng.standard_normal(len(y))
                    p = y if sigma == 0 else sigmoid(logit(np.clip(y, 0.02, 0.98)) + noise)
                    aucs.append(auc(p, y))
                    value = 1 - y ** g - (1 - y) ** g
                    for pool in np.array_split(rng.permutation(len(y)), max(1, round(len(y) / 32))):
                        for r in KEEPS:
                            k = max(1, round(r * len(pool)))
                            got[r] += top_value(-np.abs(p[pool] - 0.5), value[pool], k).sum()
                            base[r] += k / len(pool) * value[pool].sum()
            row = {"sigma": sigma, "auc": float(np.nanmean(aucs)), **{f"keep_{r}": got[r] / base[r] for r in KEEPS}}
            rows.append(row)
            print(f"{part:<8} sigma {sigma:>4.1f}  Intra-AUC {row['auc']:.3f}  "
                  + "  ".join(f"keep {r}: {row[f'keep_{r}']:.3f}x" for r in KEEPS), flush=True)
        results[part] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
