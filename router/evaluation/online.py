"""`v0-gateway bench online`: does routing learn a deployment? A stream of prompts with every
model's outcome is replayed through the gateway's scorer and profile code (router/evaluation/
online_sim.py), grades taken from the data in place of the judge; routing quality is measured on
the --eval prompts (AIQ) at each checkpoint.

Scenarios: ``shift`` (--initial-tasks: seed profiles only from those tasks), ``drift``
(--degrade-at N: from request N the model the static router uses most fails the task it gets
most of), ``new-model`` (--new-model NAME --new-model-rows K: that candidate starts with K rows,
and each regime is replayed again with its rows known from the start). Means over --seeds, with
standard deviations under ``sd``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from router.evaluation import online_data, online_report
from router.evaluation.online_sim import REGIMES, RunSpec, simulate
from router.policy_sections import WindowSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--stream", required=True, metavar="DIR", help="dataset replayed as the stream (seed rows are drawn from it)")
    a("--eval", required=True, metavar="DIR", help="dataset routing quality (AIQ) is measured on")
    a("--initial-tasks", default="", help="shift: seed rows only from these tasks (comma-separated)")
    a("--seed-rows", type=int, default=256, help="seed profile rows per model (default 256)")
    a("--degrade-at", type=int, default=None, help="drift: the request from which a model fails one task")
    a("--degrade-model", default=None, help="drift: that model (default: the static router's most used)")
    a("--degrade-task", default=None, help="drift: that task (default: the one it answers most)")
    a("--new-model", default=None, help="new-model: this candidate starts with --new-model-rows rows")
    a("--new-model-rows", type=int, default=0)
    a("--regimes", default="static,bandit,shadow,full", help=f"comma-separated, of {', '.join(REGIMES)}")
    a("--explore", type=float, default=0.1, help="explore regime: share of requests routed at random")
    a("--shadow", type=float, default=0.1, help="shadow regime: share of requests also sent to a shadow candidate")
    a("--shadow-rule", default="novel", choices=["novel", "least-profiled", "uniform"],
      help="shadow candidate rule (default: the gateway's, novel)")
    a("--shadow-budget", type=float, default=0.04, help="shadow spend cap, share of the answers' spend (default 0.04; <0: none)")
    a("--window", default=None, choices=["recent", "keep_seed", "balanced", "decay"],
      help="profile window policy (default: the shipped default, see policies.yaml `window:`)")
    a("--window-clusters", type=int, default=None, help="balanced window: k-means clusters (default: the shipped)")
    a("--window-history", type=int, default=None, help="rows considered, x profile size (default: the shipped)")
    a("--threshold", type=float, default=0.6, help="the policy threshold (default 0.6)")
    a("--cost-target", type=float, default=None, help="target regime: cost share of always using the strongest model")
    a("--profile-size", type=int, default=256)
    a("--refresh-every", type=int, default=25, help="requests between profile rebuilds (default 25)")
    a("--seeds", type=int, default=3)
    a("--checkpoints", default="0,250,500,1000,2000")
    a("--max-stream", type=int, default=None, help="replay at most this many stream requests")
    a("--weights", default=None, help="V0 checkpoint directory (default: the shipped weights)")
    a("--head", default=None)
    a("--no-litellm", action="store_true", help="skip the LiteLLM complexity-v2 baseline (its import is slow)")
    a("--feature-file", default=None, help="an .npz of prompt features kept between runs (encode once)")
    a("--json", default=None, metavar="OUT", help="write the results here")


def _log(msg: str) -> None:
    print(f"[bench online] {msg}", file=sys.stderr, flush=True)


def load_model(weights: str | None, head: str | None):
    """The serving runtime (onnxruntime + numpy) where it can run, else V0 on torch."""
    try:
        from valuemodel.infer import Unsupported, V0Runtime

        try:
            return V0Runtime.load(weights, head=head)
        except Unsupported as exc:
            _log(f"V0 on torch: {exc}")
    except ImportError:
        pass
    from valuemodel import V0

    return V0.load(weights, head=head)


def run(args, v0=None) -> int:
    t0 = time.perf_counter()
    regimes = [r for r in args.regimes.split(",") if r]
    bad = [r for r in regimes if r not in REGIMES]
    if bad:
        raise SystemExit(f"bench online: unknown regime(s) {bad}; choose from {list(REGIMES)}")
    if "target" in regimes and args.cost_target is None:
        raise SystemExit("bench online: the target regime needs --cost-target")
    data = online_data.load(args.stream, args.eval)
    models = data.models
    if args.new_model is not None and args.new_model not in models:
        raise SystemExit(f"bench online: --new-model {args.new_model!r} is not one of {models}")
    v0 = v0 if v0 is not None else load_model(args.weights, args.head)
    feats = online_data.encode_once(v0, data.stream.texts + data.eval.texts, args.feature_file, _log)
    cached = online_data.CachedV0(v0, feats)
    window = WindowSpec(**{k: v for k, v in (("policy", args.window), ("clusters", args.window_clusters),
                                             ("history", args.window_history)) if v is not None})
    checkpoints = [int(c) for c in args.checkpoints.split(",") if c != ""]
    tasks = [t for t in args.initial_tasks.split(",") if t]
    _log(f"{len(models)} models; stream {len(data.stream.prompt_ids)}, eval {len(data.eval.prompt_ids)} prompts; "
         f"window {window.policy}")

    runs: dict[str, list] = {r: [] for r in regimes}
    known: dict[str, list] = {r: [] for r in regimes}
    faults = []
    for seed in range(args.seeds):
        d = online_data.draw(data.stream, seed=seed, seed_rows=args.seed_rows, initial_tasks=tasks)
        if args.max_stream:
            d = online_data.Draw(d.seed_idx, d.order[:args.max_stream])
        new = models.index(args.new_model) if args.new_model else None
        seeded = {m: (args.new_model_rows if m == new else len(d.seed_idx)) for m in range(len(models))}
        seed_scores = data.stream.score[:, d.seed_idx]  # (M, S)
        fallback = max((m for m in range(len(models)) if seeded[m] > 0),
                       key=lambda m: (seed_scores[m, :seeded[m]].mean(), -data.stream.expected[m, 0]))

        def spec(regime: str) -> RunSpec:
            return RunSpec(regime, window, args.threshold, args.profile_size, args.refresh_every, args.explore,
                           args.shadow, args.shadow_rule, None if args.shadow_budget < 0 else args.shadow_budget,
                           args.cost_target)

        def replay(regime: str, seed_rows: dict[int, int], fault=None):
            return simulate(data, cached, d, spec(regime), seed=seed, fallback=fallback, seed_rows=seed_rows,
                            fault=fault, checkpoints=checkpoints, log=_log)

        fault = None
        if args.degrade_at is not None:
            fault = _fault(args, data, d, replay, seeded, runs if "static" in regimes else None)
            faults.append({"seed": seed, "model": models[fault.model], "task": fault.task})
        for regime in regimes:
            if not (fault is not None and regime == "static" and len(runs["static"]) > seed):
                runs[regime].append(replay(regime, seeded, fault))  # (else replayed already to find the fault)
            if new is not None:
                known[regime].append(replay(regime, {**seeded, new: len(d.seed_idx)}, fault))
    results = online_report.summarise(args, data, runs, known, faults, regimes, checkpoints)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        _log(f"wrote {args.json}")
    print(online_report.markdown(results))
    return 0


def _fault(args, data, d, replay, seeded, runs) -> online_data.Fault:
    """The drift fault: the given model and task, else the static router's most used model before
    --degrade-at and the task it answers most (the static replay is kept when asked for)."""
    models = data.models
    if args.degrade_model and args.degrade_task:
        return online_data.Fault(args.degrade_at, models.index(args.degrade_model), args.degrade_task)
    static = replay("static", seeded)
    if runs is not None:
        runs["static"].append(static)
    before = static.chosen[:args.degrade_at]
    model = models.index(args.degrade_model) if args.degrade_model else Counter(before.tolist()).most_common(1)[0][0]
    asked = [data.stream.tasks[i] for i, c in zip(static.prompts[:args.degrade_at], before) if c == model]
    task = args.degrade_task or Counter(asked).most_common(1)[0][0]
    fault = online_data.Fault(args.degrade_at, model, task)
    if runs is not None:  # the kept static replay must have seen the fault too
        runs["static"][-1] = replay("static", seeded, fault)
    return fault


def shares(chosen: np.ndarray, model: int) -> float:
    return float(np.mean(chosen == model)) if len(chosen) else 0.0
