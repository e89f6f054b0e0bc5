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
from dataclasses import asdict
from pathlib import Path

from router.evaluation import costs, predictions
from router.evaluation.decision_log import calibrate_from_log
from router.evaluation.policyfile import load_policy_targets
from router.evaluation.thresholds import N_BINS, PolicyTarget, calibrate_threshold, reliability


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


def _policies(args, data_models: list[str]) -> list[PolicyTarget]:
    if not args.policies:
        models = args.models.split(",") if args.models else data_models
        missing = sorted(set(models) - set(data_models))
        if missing:
            raise SystemExit(f"calibrate: models not in the data: {missing}")
        return [PolicyTarget("all" if not args.models else "models", models, None, None)]
    targets = load_policy_targets(args.policies, data_models)
    if args.policy:
        targets = [t for t in targets if t.name in set(args.policy)]
        if not targets:
            raise SystemExit(f"calibrate: no policy named {args.policy} in {args.policies}")
    return targets


def calibrate_profiles(args) -> dict:
    from valuemodel.data import load_dataset, subsample_prompts

    ds = load_dataset(args.profiles)
    if args.max_prompts:
        ds = subsample_prompts(ds, args.max_prompts, args.seed)
    v0 = predictions.load_v0(args.weights, args.head)
    features = None
    report = {"source": "profiles", "data": Path(args.profiles).name, "folds": args.folds, "profile_size": args.profile_size, "policies": {}}
    for pol in _policies(args, ds.models):
        kw = {} if args.output_tokens is None else {"output_tokens": args.output_tokens}
        mats = costs.build(ds, ds, pol.candidates, **kw)
        if features is None:
            features = predictions.encode_all(v0, ds.prompts)
        p = predictions.out_of_fold(v0, ds, pol.candidates, mats.prompt_ids, folds=args.folds, profile_size=args.profile_size,
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
    from router.settings import Settings

    settings = Settings()  # V0_DATABASE_URL, only when set (not the serving default)
    url = args.database_url or (settings.database_url if "database_url" in settings.model_fields_set else None)
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
