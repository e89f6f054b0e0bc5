"""`v0-gateway calibrate`: choose a policy's threshold for a target quality or cost per request.

What a threshold means: a policy sends a request to the cheapest candidate whose predicted
P(success) is at least the threshold. The threshold is therefore not itself a quality: the
quality a threshold buys depends on how well calibrated the predictions are and on how the
candidates' strengths overlap. This command measures it instead of guessing it:

- from profile data (cross-validated): the prompts are split into K folds; each fold is
  predicted by V0 with profiles drawn from the other folds only, so every prompt gets an
  out-of-fold prediction for every candidate. Sweeping the threshold over those predictions
  gives the quality and cost per request that each threshold actually produced; the chosen
  threshold is the cheapest one whose quality meets `--target-quality`, or the best-quality one
  whose cost stays within `--target-cost`.
- from logged decisions with feedback (`--decisions`): the gateway's decision log keeps every
  candidate's p and expected cost, the model that answered and, later, its graded feedback.
  Only the answering model's outcome is observed, so a threshold that would have chosen
  another model is scored with that model's *calibrated* p (isotonic regression of feedback on
  p, per model); where it keeps the logged choice, the observed feedback is used.

Both report, per candidate, the reliability curve (mean observed outcome against mean predicted
p, in equal-width bins) and the expected calibration error
ECE = sum over bins of (bin size / n) * |mean outcome - mean p|.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from router.evaluation.curves import sweep_threshold, threshold_grid

N_BINS = 10


# ---- reliability -------------------------------------------------------------------------

@dataclass(frozen=True)
class Reliability:
    bin_edges: list[float]  # (B+1,)
    mean_p: list[float | None]  # (B,) None for an empty bin
    mean_outcome: list[float | None]
    count: list[int]
    ece: float
    n: int


def reliability(p: np.ndarray, outcome: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """Equal-width bins over [0, 1]; p == 1 falls in the last bin. Outcomes may be fractional."""
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(outcome, dtype=float).ravel()
    if p.shape != y.shape or p.size == 0:
        raise ValueError("need the same, non-zero number of predictions and outcomes")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.floor(p * n_bins).astype(int), 0, n_bins - 1)  # (N,)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mp, my = sum_p / count, sum_y / count
    ece = float(np.sum(np.abs(sum_y - sum_p)) / p.size)  # = sum_b (n_b/n) |my_b - mp_b|
    return Reliability(
        bin_edges=edges.tolist(),
        mean_p=[None if c == 0 else float(v) for c, v in zip(count, mp)],
        mean_outcome=[None if c == 0 else float(v) for c, v in zip(count, my)],
        count=count.astype(int).tolist(),
        ece=ece,
        n=int(p.size),
    )


def expected_calibration_error(p: np.ndarray, outcome: np.ndarray, n_bins: int = N_BINS) -> float:
    return reliability(p, outcome, n_bins).ece


# ---- threshold choice ----------------------------------------------------------------------

@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    quality: float  # mean outcome per request at that threshold, on the calibration data
    cost: float  # mean cost per request, same units as the costs given
    met: bool  # False: the target cannot be met; the closest threshold is given instead
    target: str  # "quality >= x" or "cost <= x"


def choose_threshold(
    thresholds: np.ndarray,
    cost: np.ndarray,
    quality: np.ndarray,
    *,
    target_quality: float | None = None,
    target_cost: float | None = None,
) -> ThresholdChoice:
    """Pick from a threshold sweep: the cheapest threshold whose quality >= target_quality
    (ties: higher quality, then the lower threshold), or the highest-quality threshold whose
    cost <= target_cost (ties: lower cost, then the lower threshold). When nothing meets the
    target: the highest-quality threshold, or the cheapest one."""
    if (target_quality is None) == (target_cost is None):
        raise ValueError("give exactly one of target_quality and target_cost")
    t, c, q = (np.asarray(a, dtype=float) for a in (thresholds, cost, quality))
    if target_quality is not None:
        ok = q >= target_quality - 1e-12
        keys = (t, -q, c) if ok.any() else (t, c, -q)  # lexsort: last key is primary
        label = f"quality >= {target_quality:g}"
    else:
        ok = c <= target_cost + 1e-15
        keys = (t, c, -q) if ok.any() else (t, -q, c)
        label = f"cost <= {target_cost:g}"
    pool = np.flatnonzero(ok) if ok.any() else np.arange(len(t))
    order = np.lexsort(tuple(k[pool] for k in keys))
    i = int(pool[order[0]])
    return ThresholdChoice(float(t[i]), float(q[i]), float(c[i]), bool(ok.any()), label)


def calibrate_threshold(
    p: np.ndarray,
    expected: np.ndarray,
    cost: np.ndarray,
    score: np.ndarray,
    *,
    target_quality: float | None = None,
    target_cost: float | None = None,
    fallback: int | None = None,
) -> ThresholdChoice:
    """Threshold for a target from (out-of-fold) predictions on graded prompts, all (M, Q)."""
    curve = sweep_threshold(p, expected, cost, score, thresholds=threshold_grid(p), fallback=fallback)
    return choose_threshold(curve.values, curve.cost, curve.quality, target_quality=target_quality, target_cost=target_cost)


# ---- V0 predictions ----------------------------------------------------------------------------

def load_v0(weights: str | None, head: str | None):
    from valuemodel import V0

    return V0.load(weights, head=head)


def predict_matrix(v0, profiles, evaluation, **kw):
    """valuemodel.evaluate.predict_matrix: (models, prompt_ids, P (M, Q))."""
    from valuemodel.evaluate import predict_matrix as _predict_matrix

    return _predict_matrix(v0, profiles, evaluation, **kw)


def encode_all(v0, texts: dict[str, str]) -> dict[str, dict]:
    """One backbone pass per text, every feature kind: {"adapter": {id: (F,)}, "pooled": {...}}.
    Reused across heads and folds so that no prompt is encoded twice."""
    from valuemodel.evaluate import encode_features

    return encode_features(v0, texts)


def predict_aligned(v0, profiles, evaluation, models: list[str], prompt_ids, *, profile_size: int, seed: int,
                    head=None, features: dict[str, dict] | None = None) -> np.ndarray:
    """(M, Q) P(success) in the order of `models` x `prompt_ids`."""
    kw = {} if features is None else {"feature_cache": features[v0.features]}
    got_models, got_ids, P = predict_matrix(v0, profiles, evaluation, profile_size=profile_size, seed=seed, head=head, **kw)
    rows = [list(got_models).index(m) for m in models]
    col = {str(p): j for j, p in enumerate(got_ids)}
    return np.asarray(P, dtype=float)[rows][:, [col[str(p)] for p in prompt_ids]]


# ---- cross-validated predictions from profile data --------------------------------------------

def out_of_fold(v0, ds, models: list[str], prompt_ids: list[str], *, folds: int, profile_size: int, seed: int,
                head=None, features: dict[str, dict] | None = None) -> np.ndarray:
    """(M, Q) P(success) for `prompt_ids`, each fold predicted from profiles of the others."""
    if folds < 2:
        raise ValueError("need at least 2 folds")
    ids = np.array(prompt_ids)
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(np.arange(len(ids)) % folds)  # (Q,) balanced, seeded
    sub = ds.select_rows(ds.outcomes["model"].isin(models))
    out = np.full((len(models), len(ids)), np.nan)
    for k in range(folds):
        held = ids[fold_of == k]
        rest = sub.select_prompts(ids[fold_of != k])
        out[:, fold_of == k] = predict_aligned(v0, rest, sub.select_prompts(held), models, held, profile_size=profile_size, seed=seed + k, head=head, features=features)
    if np.isnan(out).any():
        raise RuntimeError("some prompts got no out-of-fold prediction")
    return out


# ---- CLI ----------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", metavar="DIR", help="graded prompts (shared-data format) to calibrate on, cross-validated")
    parser.add_argument("--decisions", action="store_true", help="calibrate on logged decisions with feedback (database from --database-url or V0_DATABASE_URL)")
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL of the gateway database (default: V0_DATABASE_URL)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-quality", type=float, help="mean quality per request to reach, in [0, 1]")
    target.add_argument("--target-cost", type=float, help="mean cost per request not to exceed, USD")
    parser.add_argument("--policies", metavar="FILE", help="policies.yaml: calibrate each policy on its candidates")
    parser.add_argument("--policy", action="append", default=None, help="only these policies (repeatable)")
    parser.add_argument("--models", default=None, help="comma-separated candidates when no --policies (default: every model in the data)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--profile-size", type=int, default=256)
    parser.add_argument("--bins", type=int, default=N_BINS, help="reliability-curve bins")
    parser.add_argument("--weights", default=None, help="V0 checkpoint directory (default: the shipped weights)")
    parser.add_argument("--head", default=None, help="V0 head (default: the checkpoint's)")
    parser.add_argument("--max-prompts", type=int, default=None, help="calibrate on at most this many prompts (seeded sample)")
    parser.add_argument("--output-tokens", type=int, default=None, help="assumed output tokens when costs come from models.csv prices")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", metavar="DIR", default=None, help="write calibration.json and calibration.md here")


@dataclass
class PolicyTarget:
    name: str
    candidates: list[str]  # model names as they appear in the calibration data
    fallback: str | None  # None: the candidate with the highest p
    current_threshold: float | None


def _policies(args, data_models: list[str]) -> list[PolicyTarget]:
    if not args.policies:
        models = args.models.split(",") if args.models else data_models
        missing = sorted(set(models) - set(data_models))
        if missing:
            raise SystemExit(f"calibrate: models not in the data: {missing}")
        return [PolicyTarget("all" if not args.models else "models", models, None, None)]
    from router.evaluation.policyfile import load_policy_targets

    targets = load_policy_targets(args.policies, data_models)
    if args.policy:
        targets = [t for t in targets if t.name in set(args.policy)]
        if not targets:
            raise SystemExit(f"calibrate: no policy named {args.policy} in {args.policies}")
    return targets


def calibrate_profiles(args) -> dict:
    from valuemodel.data import load_dataset, subsample_prompts

    from router.evaluation import costs

    ds = load_dataset(args.profiles)
    if args.max_prompts:
        ds = subsample_prompts(ds, args.max_prompts, args.seed)
    v0 = load_v0(args.weights, args.head)
    features = None
    report = {"source": "profiles", "data": Path(args.profiles).name, "folds": args.folds, "profile_size": args.profile_size, "policies": {}}
    for pol in _policies(args, ds.models):
        kw = {} if args.output_tokens is None else {"output_tokens": args.output_tokens}
        mats = costs.build(ds, ds, pol.candidates, **kw)
        if features is None:
            features = encode_all(v0, ds.prompts)
        p = out_of_fold(v0, ds, pol.candidates, mats.prompt_ids, folds=args.folds, profile_size=args.profile_size,
                        seed=args.seed, head=args.head, features=features)
        fb = None if pol.fallback is None else pol.candidates.index(pol.fallback)
        choice = calibrate_threshold(p, mats.expected, mats.cost, mats.score, target_quality=args.target_quality, target_cost=args.target_cost, fallback=fb)
        report["policies"][pol.name] = {
            "candidates": pol.candidates,
            "fallback": pol.fallback or "highest p",
            "current_threshold": pol.current_threshold,
            "n_prompts": len(mats.prompt_ids),
            "cost_source": mats.cost_source,
            "choice": asdict(choice),
            "reliability": {m: asdict(reliability(p[i], mats.score[i], args.bins)) for i, m in enumerate(pol.candidates)},
        }
    return report


def calibrate_decisions(args) -> dict:
    from router.evaluation.decision_log import calibrate_from_log

    url = args.database_url or os.environ.get("V0_DATABASE_URL")
    if not url:
        raise SystemExit("calibrate --decisions: set --database-url or V0_DATABASE_URL")
    return calibrate_from_log(url, target_quality=args.target_quality, target_cost=args.target_cost, bins=args.bins, policies=args.policy)


def markdown(report: dict) -> str:
    lines = [f"# Threshold calibration ({report['source']})", ""]
    for name, pol in report["policies"].items():
        ch = pol["choice"]
        verdict = "met" if ch["met"] else "NOT met (closest threshold shown)"
        lines += [
            f"## policy `{name}`",
            f"target {ch['target']}: {verdict}; threshold **{ch['threshold']:.4f}** gives quality {ch['quality']:.4f} "
            f"at {ch['cost']:.6g} per request on {pol['n_prompts']} prompts"
            + (f" (current threshold: {pol['current_threshold']})" if pol.get("current_threshold") is not None else ""),
            "",
            "| candidate | n | ECE | reliability (mean p → mean outcome, per bin) |",
            "|---|---:|---:|---|",
        ]
        for m, r in pol["reliability"].items():
            if not r["n"]:
                lines.append(f"| {m} | 0 | — | no graded rows |")
                continue
            bins = ", ".join(f"{a:.2f}→{b:.2f}" for a, b in zip(r["mean_p"], r["mean_outcome"]) if a is not None)
            lines.append(f"| {m} | {r['n']} | {r['ece']:.4f} | {bins} |")
        lines.append("")
    return "\n".join(lines)


def run(args) -> int:
    if bool(args.profiles) == bool(args.decisions):
        raise SystemExit("calibrate: give exactly one of --profiles DIR and --decisions")
    report = calibrate_profiles(args) if args.profiles else calibrate_decisions(args)
    text = markdown(report)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "calibration.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "calibration.md").write_text(text)
    return 0
