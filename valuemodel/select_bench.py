"""`v0-gateway bench select`: which prompts of a pool to roll out, scored on true pass rates.

For every policy (model), V0 predicts the pass rates of held-out prompts from a --profile-size
profile of the same policy's other rows. The held-out prompts are cut into pools of --pool-size;
from each pool a share (1/4, 1/2, 3/4) is kept, and each selection is scored by the expected
informative GRPO groups of the kept prompts at --group-size rollouts, computed from the *true*
pass rates y: sum 1 - y^G - (1 - y)^G. Selectors (``valuemodel.allocate.select`` unless said):
  random        the share's expectation, keep x sum over the pool;
  v0            P(informative) under the Beta prior around V0's prediction; its strength
                (evidence) and shrinkage toward the profile's mean fitted per policy by
                beta-binomial ML on out-of-fold predictions of the profile rows (``fit_posterior``);
  v0_near_half  the naive rule: predicted pass rate closest to 0.5;
  history_kK    each prompt's own record alone: K past rollouts simulated as Binomial(K, y)
                (--history-draws draws averaged), a Beta prior at the profile's mean whose strength
                is fitted the same way on the profile rows (K = 0 is random: every score ties);
  v0_history_kK both: V0's prior updated with the same simulated record;
  oracle        the share with the highest true P(informative) (the ceiling).
Ties are scored at their expectation. Sets: with --profiles and --eval the same DAPO-Math
folder, ``context`` (the context rows in --folds prompt-disjoint folds: each fold predicted
from a profile drawn from the other folds) at the top level and ``train`` (the train rows,
profiles from the context rows) under "sets"; otherwise the --eval rows (its train rows when it
has DAPO-Math's parts), profiles from --profiles (its context rows when it has them; prompts of
--eval removed). Intervals: 90 % paired bootstrap over prompts of the
ratio to random, and of the combined prior to history alone ("gain_over_history": [ratio, 5 %,
95 %]). JSON: {"keep_0.25": {"random": groups, "v0": groups, ...}, ..., "ratio": ..., "ci90": ...,
"gain_over_history": ..., "prior": ..., "sets": {...}}.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .allocate import Posterior, informative, p_informative
from .allocate_fit import fit_posterior
from .data import Dataset, load_dataset
from .metrics import auc
from .model import V0

KEEPS = (0.25, 0.5, 0.75)
HISTORY = (0, 2, 4)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", required=True, metavar="DIR", help="dataset the profiles are drawn from")
    parser.add_argument("--eval", required=True, metavar="DIR", help="dataset with eval prompts and pass rates")
    parser.add_argument("--profile-size", type=int, default=256)
    parser.add_argument("--group-size", type=int, default=8, help="G: rollouts per selected prompt")
    parser.add_argument("--pool-size", type=int, default=32, help="prompts per pool a share is kept from")
    parser.add_argument("--trials", type=int, default=10, help="rollouts behind each pass rate (DAPO-Math: 10)")
    parser.add_argument("--folds", type=int, default=4, help="prompt-disjoint folds (context set, prior fit)")
    parser.add_argument("--repeats", type=int, default=3, help="profile draws and pool cuts (seeds) averaged")
    parser.add_argument("--history-draws", type=int, default=20, help="simulated histories per prompt")
    parser.add_argument("--history", type=int, nargs="+", default=list(HISTORY), metavar="K",
                        help="past rollouts per prompt to simulate (0 = none)")
    parser.add_argument("--evidence-scale", type=float, default=1.0,
                        help="multiply both priors' fitted strengths (to check the fit)")
    parser.add_argument("--weights", default=None, help="V0 checkpoint folder (default: the shipped weights)")
    parser.add_argument("--head", default=None, help="V0 head (default: the checkpoint's)")
    parser.add_argument("--json", default=None, metavar="PATH", help="write the results here")


@dataclass(frozen=True)
class Task:
    """One policy's held-out prompts and the rows its profiles may be drawn from."""
    policy: str
    prof_ids: list[str]
    prof_y: np.ndarray
    eval_ids: list[str]
    eval_y: np.ndarray


def rows(ds: Dataset, model: str, part: str | None = None) -> tuple[list[str], np.ndarray]:
    out = ds.outcomes
    keep = out["model"] == model
    if part is not None and "part" in out.columns:
        keep &= out["part"] == part
    return out.loc[keep, "prompt_id"].tolist(), out.loc[keep, "score"].to_numpy(dtype=np.float64)


def fold_of(ids: list[str], folds: int, salt: int = 0) -> np.ndarray:
    """Prompt-disjoint folds: a prompt's fold depends on its id only (the same for every policy)."""
    return np.array([zlib.crc32(f"{salt}:{p}".encode()) % folds for p in ids])


def draw(n: int, size: int, *seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(list(seed)).choice(n, size=min(size, n), replace=False))


def predict(v0: V0, feats: dict[str, np.ndarray], prof_ids: list[str], prof_y: np.ndarray,
            query_ids: list[str]) -> np.ndarray:
    state = v0.fit_profile(np.stack([feats[p] for p in prof_ids]), prof_y)  # (N, F)
    return v0.predict([state], np.stack([feats[p] for p in query_ids]))[0].astype(np.float64)  # (Q,)


def fit_priors(v0: V0, feats, ids: list[str], y: np.ndarray, args, seed: int) -> tuple[Posterior, Posterior]:
    """(V0's prior, the history-only prior), fitted on the profile rows alone: every fold of them
    predicted from a profile drawn from the other folds, then beta-binomial ML (``fit_posterior``)."""
    fold = fold_of(ids, args.folds, salt=seed + 1)
    oof = np.empty(len(ids))
    for k in range(args.folds):
        rest, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        pick = rest[draw(len(rest), args.profile_size, seed, k, 7)]
        oof[held] = predict(v0, feats, [ids[i] for i in pick], y[pick], [ids[i] for i in held])
    mean = float(y.mean())
    return (fit_posterior(oof, y, args.trials, prior_mean=mean),
            fit_posterior(np.full(len(y), mean), y, args.trials, prior_mean=mean))


def top_value(score: np.ndarray, value: np.ndarray, keep: int) -> np.ndarray:
    """Each prompt's expected share of the ``keep`` best-scored (ties split evenly) times its value. (n,)"""
    order = np.argsort(-score, kind="stable")
    cut = score[order[keep - 1]]
    above, tied = score > cut, score == cut
    weight = above.astype(np.float64)
    weight[tied] = (keep - above.sum()) / tied.sum()
    return weight * value


def score_task(v0: V0, feats, task: Task, args, seed: int) -> tuple[dict[str, dict[float, np.ndarray]], dict]:
    """Per keep share and method, each eval prompt's expected contribution (n,), and the fitted priors."""
    g, y = args.group_size, task.eval_y
    pick = draw(len(task.prof_ids), args.profile_size, seed, zlib.crc32(task.policy.encode()))
    prof_ids, prof_y = [task.prof_ids[i] for i in pick], task.prof_y[pick]
    p_hat = predict(v0, feats, prof_ids, prof_y, task.eval_ids)
    prior_v0, prior_hist = (Posterior(p.evidence * args.evidence_scale, p.shrink)
                            for p in fit_priors(v0, feats, prof_ids, prof_y, args, seed))
    mean = float(prof_y.mean())
    value = np.array([informative([t], [g]) for t in y])  # (n,) true P(informative)
    rng = np.random.default_rng([seed, 11, zlib.crc32(task.policy.encode())])
    pools = np.array_split(rng.permutation(len(y)), max(1, round(len(y) / args.pool_size)))
    scores: dict[str, list[np.ndarray]] = {
        "v0": [p_informative(p_hat, g, posterior=prior_v0, prior_mean=mean)[1]],
        "v0_near_half": [-np.abs(p_hat - 0.5)],
        "oracle": [value]}
    for k in args.history:
        sims = rng.binomial(k, np.clip(y, 0, 1)[None, :], size=(args.history_draws if k else 1, len(y)))
        for name, p, prior in (("history", np.full(len(y), mean), prior_hist), ("v0_history", p_hat, prior_v0)):
            scores[f"{name}_k{k}"] = [p_informative(p, g, posterior=prior, prior_mean=mean, successes=s,
                                                    trials=np.full(len(y), k))[1] for s in sims]
    shares = {r: np.zeros(len(y)) for r in KEEPS}  # random: each prompt's chance of being kept
    for r in KEEPS:
        for pool in pools:
            shares[r][pool] = max(1, round(r * len(pool))) / len(pool)
    out: dict[str, dict[float, np.ndarray]] = {"random": {r: shares[r] * value for r in KEEPS}}
    for name, draws in scores.items():
        out[name] = {}
        for r in KEEPS:
            contrib = np.zeros(len(y))
            for sc in draws:
                for pool in pools:
                    contrib[pool] += top_value(sc[pool], value[pool], max(1, round(r * len(pool)))) / len(draws)
            out[name][r] = contrib
    a = auc(p_hat, y)
    return out, {"evidence": prior_v0.evidence, "shrink": prior_v0.shrink,
                 "history_evidence": prior_hist.evidence, "auc": a}


def evaluate(v0: V0, feats, tasks: list[Task], args, contributions: dict | None = None) -> dict:
    """Totals per keep and method (mean over repeats), ratios to random, bootstrap intervals.
    ``contributions``, if given, receives each prompt's expected groups: {keep: {method: (n,)}}."""
    per: dict[str, dict[float, list[np.ndarray]]] = {}
    priors: dict[str, list[dict]] = {}
    for seed in range(args.repeats):
        for task in tasks:
            contrib, prior = score_task(v0, feats, task, args, seed)
            priors.setdefault(task.policy, []).append(prior)
            for name, by_keep in contrib.items():
                for r, c in by_keep.items():
                    per.setdefault(name, {}).setdefault(r, []).append(c)
    n = sum(len(t.eval_y) for t in tasks)
    boot = np.random.default_rng(0).integers(0, n, size=(2000, n))  # (R, n) prompts resampled, paired
    result: dict = {"ratio": {}, "ci90": {}, "gain_over_history": {}}
    for r in KEEPS:
        key = f"keep_{r}"
        per_prompt = {m: np.concatenate(v[r]).reshape(args.repeats, n).mean(0) for m, v in per.items()}  # (n,)
        result[key] = {m: round(float(c.sum()), 3) for m, c in per_prompt.items()}
        if contributions is not None:
            contributions[key] = per_prompt
        base = per_prompt["random"][boot].sum(1)
        result["ratio"][key] = {m: round(float(c.sum() / per_prompt["random"].sum()), 4) for m, c in per_prompt.items()}
        result["ci90"][key] = {m: [round(float(q), 4) for q in np.quantile(c[boot].sum(1) / base, [0.05, 0.95])]
                               for m, c in per_prompt.items() if m != "random"}
        result["gain_over_history"][key] = {  # V0's prior with k past rollouts / the same history alone
            f"k{k}": [round(float(x), 4) for x in (
                per_prompt[f"v0_history_k{k}"].sum() / per_prompt[f"history_k{k}"].sum(),
                *np.quantile(per_prompt[f"v0_history_k{k}"][boot].sum(1) / per_prompt[f"history_k{k}"][boot].sum(1),
                             [0.05, 0.95]))] for k in args.history if k}
    result["prior"] = {p: {k: round(float(np.nanmean([x[k] for x in v])), 3) for k in v[0]} for p, v in priors.items()}
    result["n_prompts"] = n
    return result


def context_tasks(ds: Dataset, models: list[str], folds: int, source: dict[str, str] | None = None) -> list[Task]:
    """Each policy's context rows in prompt-disjoint folds; a fold's profile rows come from the other
    folds of ``source[policy]``'s context rows (default: the same policy; another = a stale profile)."""
    tasks = []
    for model in models:
        ids, y = rows(ds, model, "context")
        src_ids, src_y = rows(ds, (source or {}).get(model, model), "context")
        fold, src_fold = fold_of(ids, folds), fold_of(src_ids, folds)
        for k in range(folds):
            held, rest = np.flatnonzero(fold == k), np.flatnonzero(src_fold != k)
            tasks.append(Task(model, [src_ids[i] for i in rest], src_y[rest], [ids[i] for i in held], y[held]))
    return tasks


def held_out_tasks(profiles: Dataset, ev: Dataset, models: list[str], part: str | None = None,
                   source: dict[str, str] | None = None) -> list[Task]:
    """Each policy's --eval rows (``part`` of them); profiles from ``source[policy]``'s rows of
    --profiles (its context rows in DAPO-Math's layout), the eval prompts removed."""
    tasks = []
    for model in models:
        ids, y = rows(ev, model, part)
        src_ids, src_y = rows(profiles, (source or {}).get(model, model), "context")
        held = set(ids)
        keep = np.array([p not in held for p in src_ids])
        tasks.append(Task(model, [p for p, k in zip(src_ids, keep) if k], src_y[keep], ids, y))
    return tasks


def encode_all(v0: V0, datasets: list[Dataset]) -> dict[str, np.ndarray]:
    texts = {pid: t for ds in datasets for pid, t in ds.prompts.items()}
    needed = sorted({p for ds in datasets for p in ds.outcomes["prompt_id"]})
    return dict(zip(needed, v0.encode([texts[p] for p in needed]).numpy()))


def run(args: argparse.Namespace) -> int:
    t0 = time.time()
    v0 = V0.load(args.weights, head=args.head)
    profiles, ev = load_dataset(args.profiles), load_dataset(args.eval)
    models = [m for m in ev.models if m in set(profiles.outcomes["model"])]
    feats = encode_all(v0, [profiles, ev])
    print(f"{len(models)} policies; encoded {len(feats)} prompts in {time.time() - t0:.0f} s", flush=True)
    if Path(args.profiles).resolve() == Path(args.eval).resolve() and "part" in ev.outcomes.columns:
        result = evaluate(v0, feats, context_tasks(ev, models, args.folds), args)
        result["note"] = f"context rows, {args.folds} prompt-disjoint folds"
        result["sets"] = {"train": evaluate(v0, feats, held_out_tasks(ev, ev, models, "train"), args)}
        result["sets"]["train"]["note"] = "train rows, profiles from the context rows"
    else:
        parts = set(ev.outcomes["part"]) if "part" in ev.outcomes.columns else set()
        part = "train" if "train" in parts else None  # DAPO-Math's layout: its train rows are the eval rows
        result = evaluate(v0, feats, held_out_tasks(profiles, ev, models, part), args)
        result["note"] = (f"{part or 'all'} rows of --eval, profiles from --profiles "
                          "(its context rows in DAPO-Math's layout; eval prompts removed)")
    result["settings"] = {k: getattr(args, k) for k in ("profile_size", "group_size", "pool_size", "trials", "folds",
                                                        "repeats", "history_draws", "history", "evidence_scale")}
    result["elapsed_s"] = round(time.time() - t0, 1)
    print_result(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


def print_result(r: dict, label: str = "") -> None:
    print(f"{label or r['note']} ({r['n_prompts']} prompts): expected informative groups, x random (90% CI)")
    methods = list(r["keep_0.25"])
    for m in methods:
        cells = []
        for keep in KEEPS:
            k = f"keep_{keep}"
            ci = r["ci90"][k].get(m)
            interval = f" ({ci[0]:.2f}-{ci[1]:.2f})" if ci else " " * 12
            cells.append(f"{r[k][m]:8.2f} {r['ratio'][k][m]:.3f}x" + interval)
        print(f"  {m:<14} " + "  ".join(cells))
    print("  V0's prior + history / history alone: " + "  ".join(
        f"{k} {kk}: {v[0]:.3f}x ({v[1]:.3f}-{v[2]:.3f})"
        for k, g in r["gain_over_history"].items() for kk, v in g.items()))
    for policy, p in r["prior"].items():
        print(f"  {policy:<34} evidence {p['evidence']:.2f} shrink {p['shrink']:.2f} "
              f"history evidence {p['history_evidence']:.2f} AUC {p['auc']:.3f}")
    for name, sub in r.get("sets", {}).items():
        print_result(sub, sub["note"])
