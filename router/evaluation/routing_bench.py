"""`v0-gateway bench routing`: V0's cost–quality trade-off beside the baselines.

Each candidate's profile is drawn from --profiles; every prompt of --eval that all candidates
answered is routed. V0 (and its kNN head) route with the threshold rule, the threshold swept
over its whole range, and with the utility rule, λ swept; `v0` / `knn` is the convex hull over
both rules' points (results.json lists its vertices and which rule gives each). When --profiles and --eval are the same folder the
prompts are split in two, seeded, and profiles come only from the first part.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from router.evaluation import baselines, costs, predictions, report
from router.evaluation.thresholds import calibrate_threshold
from router.evaluation.aiq import nondecreasing_hull, summarise
from router.evaluation.curves import Curve, route_threshold, outcome, sweep_threshold, sweep_utility

AIQ_DEFINITION = (
    "RouterBench's AIQ: area under the non-decreasing convex hull of the router's (cost, quality) "
    "points, from its cheapest point to cost 1 (flat after its last point), with costs normalised by "
    "the mean cost per request of the most expensive single model; a single model scores quality x (1 - cost)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", required=True, metavar="DIR", help="dataset the candidates' profiles are drawn from")
    parser.add_argument("--eval", required=True, metavar="DIR", help="dataset whose prompts are routed")
    parser.add_argument("--profile-size", type=int, default=256, help="profile rows per candidate (default 256)")
    parser.add_argument("--out", metavar="DIR", default=None, help="write results.json, results.md and cost_quality.png here")
    parser.add_argument("--seed", type=int, default=0, help="seed for the prompt split and the profile draws")
    parser.add_argument("--split", type=float, default=0.5, help="share of prompts used for profiles when --profiles == --eval")
    parser.add_argument("--max-eval-prompts", type=int, default=None, help="route at most this many eval prompts (seeded sample)")
    parser.add_argument("--weights", default=None, help="V0 checkpoint directory (default: the shipped weights)")
    parser.add_argument("--head", default=None, help="V0 head for `v0` (default: the checkpoint's)")
    parser.add_argument("--output-tokens", type=int, default=costs.DEFAULT_OUTPUT_TOKENS, help="assumed output tokens per call when costs come from prices")
    parser.add_argument("--target-quality", type=float, default=None, help="also calibrate a threshold on the profile prompts (cross-validated) for this quality and report the quality it reaches on the eval prompts")
    parser.add_argument("--folds", type=int, default=5, help="folds for --target-quality")
    parser.add_argument("--no-knn", action="store_true", help="skip the kNN-head baseline")


def _log(msg: str) -> None:
    print(f"[bench routing] {msg}", file=sys.stderr, flush=True)


def _load(args):
    from valuemodel.data import load_dataset, split_profiles_eval, subsample_prompts

    same = Path(args.profiles).resolve() == Path(args.eval).resolve()
    if same:
        ds = load_dataset(args.profiles)
        prof, ev, how = split_profiles_eval(ds, args.split, args.seed)
        split = f"--profiles and --eval are the same folder ({ds.name}): {how}"
    else:
        prof, ev = load_dataset(args.profiles), load_dataset(args.eval)
        split = f"profiles from {prof.name}, routed prompts from {ev.name}"
    if args.max_eval_prompts:
        ev = subsample_prompts(ev, args.max_eval_prompts, args.seed)
        split += f"; eval subsampled to at most {args.max_eval_prompts} prompts (seed {args.seed})"
    return prof, ev, split




def _rules(p: np.ndarray, m: costs.Matrices, fallback: int) -> dict[str, Curve]:
    return {
        "threshold": sweep_threshold(p, m.expected, m.cost, m.score, fallback=fallback),
        "utility": sweep_utility(p, m.expected, m.cost, m.score),
    }


def run(args) -> int:
    t0 = time.perf_counter()
    prof, ev, split = _load(args)
    models = sorted(set(prof.models) & set(ev.models))
    if len(models) < 2:
        raise SystemExit(f"bench routing: need at least 2 models in both datasets, got {models}")
    mats = costs.build(prof, ev, models, output_tokens=args.output_tokens)
    ev = ev.select_prompts(mats.prompt_ids)
    ev = ev.select_rows(ev.outcomes["model"].isin(models))
    prof = prof.select_rows(prof.outcomes["model"].isin(models))
    _log(f"{len(models)} models, {len(mats.prompt_ids)} eval prompts; {mats.cost_source}")

    singles = baselines.single_models(mats.cost, mats.score, models)
    max_name = max(singles, key=lambda n: singles[n][0])
    c_max = singles[max_name][0]
    strongest = max(singles, key=lambda n: (singles[n][1], -singles[n][0]))  # best quality, then cheaper
    s_cost, s_quality = singles[strongest][0] / c_max, singles[strongest][1]

    # The threshold rule's fallback, as a policy would name it: the strongest model on the
    # profile prompts (best mean score; ties: the cheaper).
    prof_stats = prof.outcomes.groupby("model")["score"].mean()
    prof_cost = mats.expected.mean(axis=1)
    fallback = max(range(len(models)), key=lambda i: (prof_stats[models[i]], -prof_cost[i]))

    routers: dict[str, dict] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def add(name: str, cost: np.ndarray, quality: np.ndarray, plot: bool = True, **extra) -> dict:
        c = np.asarray(cost, dtype=float) / c_max
        q = np.asarray(quality, dtype=float)
        s = summarise(c, q, strongest_cost=s_cost, strongest_quality=s_quality)
        routers[name] = {**asdict(s), "n_points": int(len(c)), **extra}
        if plot:
            curves[name] = (c, q)
        return routers[name]

    # V0 and its kNN head, each under both rules. Every prompt goes through the backbone once.
    t = time.perf_counter()
    v0 = predictions.load_v0(args.weights, args.head)
    features = predictions.encode_all(v0, {**prof.prompts, **ev.prompts})
    _log(f"encoded {len(set(prof.prompts) | set(ev.prompts))} prompts in {time.perf_counter() - t:.1f}s")
    learned = [("v0", v0)] + ([] if args.no_knn else [("knn", v0.with_head("knn"))])
    predicted: dict[str, np.ndarray] = {}
    for name, model in learned:
        t = time.perf_counter()
        p = predictions.predict_aligned(model, prof, ev, models, mats.prompt_ids, profile_size=args.profile_size,
                                      seed=args.seed, features=features)
        predicted[name] = p
        _log(f"{name}: predicted {p.shape} in {time.perf_counter() - t:.1f}s")
        rules = _rules(p, mats, fallback)
        aiqs = {}
        for rule, curve in rules.items():
            r = add(f"{name}-{rule}", curve.cost, curve.quality, plot=False, rule=rule)
            aiqs[rule] = r["aiq"]
        # The router is the convex hull over both rules' points: mixing operating points is itself
        # a router, so it reaches the strongest model's quality whenever either rule does.
        cost = np.concatenate([rules[k].cost for k in rules])
        quality = np.concatenate([rules[k].quality for k in rules])
        tags = [k for k in rules for _ in range(len(rules[k].cost))]
        points = _hull_points(cost / c_max, quality, tags, rules)
        add(name, cost, quality, rule="hull", aiq_by_rule=aiqs, head=model.head_name, hull_points=points,
            hull_rules=sorted({pt["rule"] for pt in points}))

    oc = baselines.oracle(mats.cost, mats.score)
    add("oracle", oc.cost, oc.quality)
    mix, uniform = baselines.random_mixtures(mats.cost, mats.score)
    add("random", mix.cost, mix.quality, definition="fixed-probability mixtures of the single models, "
        "whatever the prompt; curve = hull of the single-model points",
        uniform_choice={"cost_normalised": uniform[0] / c_max, "quality": uniform[1]})

    try:
        tiers = baselines.complexity_tiers([ev.prompts[p] for p in mats.prompt_ids])
        tc, maps = baselines.tier_mappings(tiers, mats.expected, mats.cost, mats.score)
        r = add("litellm-complexity", tc.cost, tc.quality)
        h = nondecreasing_hull(tc.cost / c_max, tc.quality)
        on_hull = [i for i in range(len(maps)) if any(np.isclose(tc.cost[i] / c_max, h.cost) & np.isclose(tc.quality[i], h.quality))]
        r.update(
            classifier="litellm ComplexityRouter, classifier_type heuristic (local rules, no network)",
            tier_share={t: float(np.mean(tiers == k)) for k, t in enumerate(baselines.COMPLEXITY_TIERS)},
            mapping_rule="every tier->model mapping non-decreasing in expected cost (SIMPLE<=MEDIUM<=COMPLEX<=REASONING); curve = their hull, chosen on the eval prompts",
            n_mappings=len(maps),
            hull_mappings=_distinct(
                {t: (models[m] if np.any(tiers == k) else "(no prompts)")
                 for k, (t, m) in enumerate(zip(baselines.COMPLEXITY_TIERS, maps[i]))}
                for i in on_hull),
        )
    except Exception as exc:  # reported, not fatal: the baseline is optional by design
        routers["litellm-complexity"] = {"available": False, "reason": f"{type(exc).__name__}: {exc}",
                                         "aiq": None, "cost_pct_at_strongest_quality": None,
                                         "quality_at_10pct": None, "quality_at_25pct": None}

    try:
        pc, pq, n_thresholds = baselines.complexity_v2_points([ev.prompts[p] for p in mats.prompt_ids],
                                                              mats.expected, mats.cost, mats.score)
        add("litellm-complexity-v2", pc, pq,
            classifier="litellm ComplexityRouter, classifier_type heuristic_v2 (bundled statistics, no network)",
            mapping_rule="every success threshold it distinguishes x every monotone tier->model mapping; curve = their hull, chosen on the eval prompts",
            n_thresholds=n_thresholds)
    except Exception as exc:
        routers["litellm-complexity-v2"] = {"available": False, "reason": f"{type(exc).__name__}: {exc}",
                                            "aiq": None, "cost_pct_at_strongest_quality": None,
                                            "quality_at_10pct": None, "quality_at_25pct": None}

    for name, (c, q) in singles.items():
        add(name, [c], [q], plot=False, single_model=True, mean_cost_usd=c)

    results = {
        "routers": routers,
        "strongest_model": strongest,
        "strongest_quality": s_quality,
        "strongest_cost_usd": singles[strongest][0],
        "n_eval_prompts": len(mats.prompt_ids),
        "n_profile_prompts": len(prof.prompts),
        "profile_size": args.profile_size,
        "models": models,
        "v0_rule": "hull over both rules (threshold, utility); each v0 hull point names its rule in routers.v0.hull_points",
        "v0_hull_rules": routers["v0"]["hull_rules"],
        "threshold_fallback": models[fallback],
        "rules": "threshold: cheapest model (by expected cost) with p >= t, else the fallback (the strongest model on the profile prompts), t swept over the distinct p values (thinned to 401 quantiles when there are more); utility: argmax p - lambda * expected cost / the prompt's most expensive expected cost, lambda in {0, 1e-3..1e3 (log grid), inf}",
        "cost_source": mats.cost_source,
        "cost_normalisation": f"Costs are normalised by the mean cost per request of the most expensive single model ({max_name}, {c_max:.6g} USD).",
        "cost_pct_note": "cost % at strongest quality: the lowest mean cost on the hull at which quality reaches the strongest single model's, as % of that model's mean cost (null: never reached; see best_quality). Quality at 10%/25%: hull quality at that share of the strongest model's cost (null: the router cannot run that cheaply).",
        "aiq_definition": AIQ_DEFINITION,
        "split": split,
        "seed": args.seed,
    }
    if args.target_quality is not None:
        results["calibration"] = _calibration(args, v0, features, prof, models, predicted["v0"], mats, strongest, fallback)
    results["seconds"] = round(time.perf_counter() - t0, 1)

    table = report.markdown_table(results)
    print(table)
    if args.out:
        title = f"{ev.name}: {len(mats.prompt_ids)} routed prompts, {len(models)} models"
        report.write(Path(args.out), results, curves, {n: (c / c_max, q) for n, (c, q) in singles.items()}, title)
        _log(f"wrote {args.out}/results.json, results.md, cost_quality.png")
    return 0


def _hull_points(cost: np.ndarray, quality: np.ndarray, tags: list[str], rules: dict[str, Curve]) -> list[dict]:
    """The hull's vertices, each with the rule and knob value that gives it (normalised cost)."""
    h = nondecreasing_hull(cost, quality)
    knobs = np.concatenate([rules[k].values for k in rules])
    out = []
    for c, q in zip(h.cost, h.quality):
        i = int(np.flatnonzero(np.isclose(cost, c) & np.isclose(quality, q))[0])
        out.append({"cost_normalised": float(c), "quality": float(q), "rule": tags[i],
                    rules[tags[i]].knob: float(knobs[i])})
    return out


def _distinct(items) -> list:
    out = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def _calibration(args, v0, features, prof, models, p_eval, mats, strongest, fallback) -> dict:
    """Threshold for --target-quality, cross-validated on the profile prompts only, then applied
    to the eval prompts (profiles from all profile prompts, as the gateway would)."""
    pm = costs.build(prof, prof, models, output_tokens=args.output_tokens)
    p_oof = predictions.out_of_fold(v0, prof, models, pm.prompt_ids, folds=args.folds, profile_size=args.profile_size,
                                  seed=args.seed, features=features)
    choice = calibrate_threshold(p_oof, pm.expected, pm.cost, pm.score, target_quality=args.target_quality, fallback=fallback)
    cost, quality = outcome(route_threshold(p_eval, mats.expected, choice.threshold, fallback), mats.cost, mats.score)
    return {
        "rule": "threshold",
        "fallback": models[fallback],
        "target_quality": args.target_quality,
        "threshold": choice.threshold,
        "met_on_profiles": choice.met,
        "cv_folds": args.folds,
        "cv_prompts": len(pm.prompt_ids),
        "cv_quality": choice.quality,
        "cv_cost_pct_of_strongest": 100.0 * choice.cost / pm.cost[models.index(strongest)].mean(),
        "heldout_quality": quality,
        "heldout_cost_usd": cost,
        "heldout_cost_pct_of_strongest": 100.0 * cost / mats.cost[models.index(strongest)].mean(),
    }
