"""`v0-gateway bench allocate`: rollout budgets from V0's predictions, scored on true pass rates.

For every policy (model) of --eval, its profile is --profile-size rows of --profiles; V0
predicts each eval prompt's pass rate, and B x n rollouts are allocated over the policy's n eval
prompts. Each allocation is scored by the expected informative GRPO groups computed from the
*true* pass rates, sum_i 1 - y_i^B_i - (1 - y_i)^B_i, beside:
  uniform       B rollouts per prompt;
  v0            the uncertainty-aware allocation (``allocate_robust``) with the posterior fitted on
                the policy's own profile rows, cross-validated (each fold predicted from a
                profile drawn from the other folds; evidence and shrink by beta-binomial ML);
  v0_point      exact greedy on V0's point predictions (``allocate``);
  profile_mean  every prompt at the profile's mean score (same as uniform when B is an integer);
  oracle        greedy on the true pass rates (the ceiling).
The profile draws are repeated (--repeats seeds) and averaged; a paired bootstrap over eval
prompts gives a 90 % interval for v0 / uniform. The same figures for the out-of-fold
predictions of the profile rows themselves (``context_cv``, a larger sample) are printed too.
When --profiles and --eval are the same folder it is split as in ``bench value`` (DAPO-Math:
context rows are profiles, train rows eval).
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from .allocate import Posterior, allocate, allocate_robust, informative
from .allocate_fit import fit_posterior
from .data import Dataset, load_dataset, split_profiles_eval
from .model import V0

METHODS = ("uniform", "v0", "v0_point", "profile_mean", "oracle")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", required=True, metavar="DIR", help="dataset the profiles are drawn from")
    parser.add_argument("--eval", required=True, metavar="DIR", help="dataset with eval prompts and pass rates")
    parser.add_argument("--profile-size", type=int, default=256)
    parser.add_argument("--budget-per-prompt", type=int, default=8, help="B: rollouts per prompt on average")
    parser.add_argument("--min-budget", type=int, default=2)
    parser.add_argument("--max-budget", type=int, default=128)
    parser.add_argument("--trials", type=int, default=10, help="rollouts behind each pass rate (DAPO-Math: 10)")
    parser.add_argument("--folds", type=int, default=4, help="folds of the profile rows for the posterior fit")
    parser.add_argument("--repeats", type=int, default=5, help="profile draws (seeds) averaged")
    parser.add_argument("--split-frac", type=float, default=0.5, help="profile share when --profiles == --eval")
    parser.add_argument("--weights", default=None, help="V0 checkpoint folder (default: the shipped weights)")
    parser.add_argument("--json", default=None, metavar="PATH", help="write the results here")


def _rows(ds: Dataset, model: str) -> tuple[list[str], np.ndarray]:
    rows = ds.outcomes[ds.outcomes["model"] == model]
    return rows["prompt_id"].tolist(), rows["score"].to_numpy(dtype=np.float64)


def _draw(n: int, size: int, seed: int, model: str, salt: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, salt, zlib.crc32(model.encode())])
    return np.sort(rng.choice(n, size=min(size, n), replace=False))


def _predict(v0: V0, feats: dict[str, torch.Tensor], prof_ids: list[str], prof_y: np.ndarray,
             query_ids: list[str]) -> np.ndarray:
    state = v0.fit_profile(torch.stack([feats[p] for p in prof_ids]), prof_y)  # (N, F)
    return v0.predict([state], torch.stack([feats[p] for p in query_ids]))[0].astype(np.float64)  # (Q,)


def _out_of_fold(v0: V0, feats: dict[str, torch.Tensor], ids: list[str], y: np.ndarray, *, folds: int,
                 size: int, seed: int, model: str) -> np.ndarray:
    """Each fold of the profile rows predicted from a profile drawn from the other folds. (N,)"""
    fold_of = np.random.default_rng([seed, zlib.crc32(model.encode())]).permutation(np.arange(len(ids)) % folds)
    out = np.empty(len(ids))
    for k in range(folds):
        rest = np.flatnonzero(fold_of != k)
        pick = rest[_draw(len(rest), size, seed, model, salt=k + 1)]
        held = np.flatnonzero(fold_of == k)
        out[held] = _predict(v0, feats, [ids[i] for i in pick], y[pick], [ids[i] for i in held])
    return out


def _budgets(p_hat: np.ndarray, truth: np.ndarray, post: Posterior, prior: float, args) -> dict[str, np.ndarray]:
    n, kw = len(truth), {"min_budget": args.min_budget, "max_budget": args.max_budget}
    total = args.budget_per_prompt * n
    return {
        "uniform": allocate(np.full(n, 0.5), total, **kw),
        "v0": allocate_robust(p_hat, total, posterior=post, prior_mean=prior, **kw).budgets,
        "v0_point": allocate(p_hat, total, **kw),
        "profile_mean": allocate(np.full(n, prior), total, **kw),
        "oracle": allocate(truth, total, **kw),
    }


def _per_prompt(truth: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    return np.array([informative([t], [b]) for t, b in zip(truth, budgets)])  # (n,)


def _summary(values: dict[str, np.ndarray], seed: int) -> dict:
    """Totals per method (mean over repeats), ratios to uniform, a bootstrap interval for v0."""
    out = {m: {"informative": round(float(v.sum(1).mean()), 3),
               "ratio_to_uniform": round(float(v.sum() / values["uniform"].sum()), 4)} for m, v in values.items()}
    rng = np.random.default_rng(seed)
    n = values["uniform"].shape[1]
    idx = rng.integers(0, n, size=(1000, n))  # (R, n) resampled prompts, paired across methods
    ratio = values["v0"].mean(0)[idx].sum(1) / values["uniform"].mean(0)[idx].sum(1)
    out["v0"]["ratio_90ci"] = [round(float(np.quantile(ratio, q)), 4) for q in (0.05, 0.95)]
    return out


def run(args: argparse.Namespace) -> int:
    t0 = time.time()
    v0 = V0.load(args.weights)
    profiles, ev = load_dataset(args.profiles), load_dataset(args.eval)
    note = "separate profile and eval sets"
    if Path(args.profiles).resolve() == Path(args.eval).resolve():
        profiles, ev, note = split_profiles_eval(profiles, args.split_frac, 0)
    models = [m for m in ev.models if m in set(profiles.outcomes["model"])]
    texts = {**profiles.prompts, **ev.prompts}
    needed = sorted(set(profiles.outcomes["prompt_id"]) | set(ev.outcomes["prompt_id"]))
    feats = dict(zip(needed, v0.encode([texts[p] for p in needed])))  # prompt id -> (F,)
    print(f"{ev.name}: {note}; {len(models)} policies; encoded {len(needed)} prompts in {time.time() - t0:.0f} s")
    evals = {m: [] for m in METHODS}
    cvs = {m: [] for m in METHODS}
    per_policy: dict[str, dict] = {}
    for model in models:
        prof_ids, prof_y = _rows(profiles, model)
        ev_ids, ev_y = _rows(ev, model)
        rows_ev, rows_cv, fits = {m: [] for m in METHODS}, {m: [] for m in METHODS}, []
        for seed in range(args.repeats):
            oof = _out_of_fold(v0, feats, prof_ids, prof_y, folds=args.folds, size=args.profile_size,
                               seed=seed, model=model)
            post = fit_posterior(oof, prof_y, args.trials, prior_mean=float(prof_y.mean()))
            fits.append(post)
            pick = _draw(len(prof_ids), args.profile_size, seed, model)
            prior = float(prof_y[pick].mean())
            p_hat = _predict(v0, feats, [prof_ids[i] for i in pick], prof_y[pick], ev_ids)
            for m, b in _budgets(p_hat, ev_y, post, prior, args).items():
                rows_ev[m].append(_per_prompt(ev_y, b))
            for m, b in _budgets(oof, prof_y, post, float(prof_y.mean()), args).items():
                rows_cv[m].append(_per_prompt(prof_y, b))
        for m in METHODS:
            evals[m].append(np.stack(rows_ev[m]))  # (repeats, n_policy)
            cvs[m].append(np.stack(rows_cv[m]))
        per_policy[model] = {
            **{m: round(float(np.stack(rows_ev[m]).sum(1).mean()), 3) for m in METHODS},
            "n_prompts": len(ev_ids),
            "evidence": round(float(np.mean([f.evidence for f in fits])), 3),
            "shrink": round(float(np.mean([f.shrink for f in fits])), 3)}
    result = {**_summary({m: np.concatenate(v, axis=1) for m, v in evals.items()}, 0),
              "n_prompts": int(sum(p["n_prompts"] for p in per_policy.values())),
              "per_policy": per_policy,
              "context_cv": _summary({m: np.concatenate(v, axis=1) for m, v in cvs.items()}, 1),
              "settings": {k: getattr(args, k) for k in ("profile_size", "budget_per_prompt", "min_budget",
                                                        "max_budget", "trials", "folds", "repeats")},
              "note": note, "elapsed_s": round(time.time() - t0, 1)}
    _print(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


def _print(r: dict) -> None:
    s = r["settings"]
    print(f"B = {s['budget_per_prompt']} rollouts per prompt (min {s['min_budget']}, max {s['max_budget']}), "
          f"profile size {s['profile_size']}, {s['repeats']} profile draws; expected informative groups "
          "from true pass rates:")
    for label, block, n in (("eval", r, r["n_prompts"]), ("context_cv", r["context_cv"], None)):
        print(f"  {label}" + (f" ({n} prompts)" if n else " (profile rows, out-of-fold)"))
        for m in METHODS:
            ci = block[m].get("ratio_90ci")
            print(f"    {m:<13} {block[m]['informative']:9.2f}  {block[m]['ratio_to_uniform']:.4f}x uniform"
                  + (f"  (90% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else ""))
    for model, p in r["per_policy"].items():
        print(f"  {model:<34} n={p['n_prompts']:<4} uniform {p['uniform']:.2f}  v0 {p['v0']:.2f}  "
              f"v0_point {p['v0_point']:.2f}  oracle {p['oracle']:.2f}  evidence {p['evidence']:.2f} shrink {p['shrink']:.2f}")
    print(f"  elapsed {r['elapsed_s']} s")
