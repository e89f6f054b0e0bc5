"""How sure is "the adapter beats the ablation"? Paired bootstrap over eval prompts.

    python -m bench.value_bootstrap --profiles DIR --eval DIR [--seeds 0 1 2] [--resamples 2000]

Same protocol as ``v0-gateway bench value`` (same folder for both: the same split and profile
draw per seed): the default head and the adapter-free ablation score the same eval prompts; each
resample draws every model's eval prompts with replacement and takes the difference of the two
heads' mean Intra-AUC. Prints, per seed, the observed difference and its 95% interval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from valuemodel import V0
from valuemodel.data import load_dataset, split_profiles_eval
from valuemodel.evaluate import encode_features, encode_features_cached, predict_matrix
from valuemodel.metrics import intra_auc


def per_model_rows(models, prompt_ids, eval_ds) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each model: (columns of its eval prompts in the prediction matrix, their scores)."""
    col = {p: i for i, p in enumerate(prompt_ids)}
    out = []
    for m in models:
        rows = eval_ds.outcomes[eval_ds.outcomes["model"] == m]
        out.append((rows["prompt_id"].map(col).to_numpy(), rows["score"].to_numpy()))
    return out


def difference(p_a, p_b, rows, pick=None) -> float:
    """Mean Intra-AUC of head a minus head b; ``pick`` resamples each model's rows."""
    per_a, per_b = {}, {}
    for i, (cols, scores) in enumerate(rows):
        j = pick[i] if pick is not None else slice(None)
        per_a[i] = (p_a[i, cols[j]], scores[j])
        per_b[i] = (p_b[i, cols[j]], scores[j])
    return intra_auc(per_a)[0] - intra_auc(per_b)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--weights", default=None, help="checkpoint folder (default: shipped weights)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--profile-size", type=int, default=256)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--cache", default=None, help="backbone-state cache (as train --cache)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    v0 = V0.load(args.weights)
    ablation = v0.with_head("noadapter")
    full = load_dataset(args.profiles)
    same = Path(args.profiles).resolve() == Path(args.eval).resolve()
    eval_full = full if same else load_dataset(args.eval)
    texts = {**full.prompts, **eval_full.prompts}
    if args.cache:
        feats = encode_features_cached(v0, Path(args.eval).name, texts, args.cache)
    else:
        feats = encode_features(v0, texts)
    rng = np.random.default_rng(0)
    results = []
    for seed in args.seeds:
        prof, ev = (split_profiles_eval(full, 0.5, seed)[:2]) if same else (full, eval_full)
        P = {}
        for model in (v0, ablation):
            models, pids, P[model.head_name] = predict_matrix(
                model, prof, ev, profile_size=args.profile_size, seed=seed, feature_cache=feats[model.features]
            )
        rows = per_model_rows(models, pids, ev)
        observed = difference(P[v0.head_name], P["noadapter"], rows)
        boot = [
            difference(P[v0.head_name], P["noadapter"], rows, [rng.integers(0, len(s), len(s)) for _, s in rows])
            for _ in range(args.resamples)
        ]
        lo, hi = np.nanpercentile(boot, [2.5, 97.5])
        results.append({"seed": seed, "difference": observed, "ci95": [float(lo), float(hi)]})
        print(f"seed {seed}: {v0.head_name} - noadapter {observed:+.3f}  95% interval [{lo:+.3f}, {hi:+.3f}]")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
