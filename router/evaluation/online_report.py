"""`bench online`'s JSON (means over seeds, standard deviations under ``sd``) and its table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router.evaluation import baselines
from router.evaluation.aiq import aiq, nondecreasing_hull
from router.evaluation.online_sim import RunResult

FIELDS = ("aiq", "cost_pct_at_strongest", "stream_quality", "stream_cost_usd", "grading_cost_usd")
WINDOW = 250  # requests per window of the cost-target check


def _mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None, None
    return round(float(np.mean(xs)), 6), round(float(np.std(xs)), 6)


def _point(r: RunResult, c: dict) -> dict:
    n = c["requests"]
    return {"aiq": c["aiq"], "cost_pct_at_strongest": c["cost_pct_at_strongest"],
            "stream_quality": float(r.quality[:n].mean()) if n else None,
            "stream_cost_usd": float(r.cost[:n].sum()), "grading_cost_usd": float(r.grading_cost[:n].sum())}


def _averaged(points: list[dict], keys: Sequence[str]) -> dict:
    out: dict = {}
    sd: dict = {}
    for k in keys:
        out[k], sd[k] = _mean_sd([p[k] for p in points])
    out["sd"] = sd
    return out


def checkpoints(results: list[RunResult]) -> list[dict]:
    out = []
    for j, c in enumerate(results[0].checkpoints):
        points = [_point(r, r.checkpoints[j]) for r in results]
        out.append({"requests": c["requests"], **_averaged(points, FIELDS)})
    return out


def drift(results: list[RunResult], faults: list[dict], models: list[str], tasks: list[str], at: int) -> dict:
    points = []
    for r, f in zip(results, faults):
        m = models.index(f["model"])
        task = np.array([tasks[i] for i in r.prompts]) == f["task"]  # (N,)
        idx = np.flatnonzero(task)
        after = idx[idx >= at]
        window = after[100:250]  # the affected task's requests 101-250 after the fault
        span = np.arange(at, min(at + 1000, len(r.chosen)))
        points.append({"share_101_250": float(np.mean(r.chosen[window] == m)) if len(window) else None,
                       "failures_1000": float(np.sum((r.chosen[span] == m) & task[span]))})
    return _averaged(points, ("share_101_250", "failures_1000"))


def new_model(cold: list[RunResult], known: list[RunResult], m: int) -> dict:
    points = []
    for r, k in zip(cold, known):
        points.append({"share_last_1000": float(np.mean(r.chosen[-1000:] == m)),
                       "share_last_1000_known": float(np.mean(k.chosen[-1000:] == m)),
                       "aiq": r.checkpoints[-1]["aiq"], "aiq_known": k.checkpoints[-1]["aiq"],
                       "rows_after_100": (r.rows_after.get(100) or [None] * (m + 1))[m]})
    return _averaged(points, ("share_last_1000", "share_last_1000_known", "aiq", "aiq_known", "rows_after_100"))


def spend(results: list[RunResult], target: float | None) -> dict:
    points = []
    for r in results:
        answers = float(r.cost.sum())
        windows = [float(r.cost[s:s + WINDOW].sum() / r.strongest_cost[s:s + WINDOW].sum())
                   for s in range(0, len(r.cost) - WINDOW + 1, WINDOW)]
        p = {"grading_share": float(r.grading_cost.sum()) / answers if answers else None,
             "cost_share": float(r.cost.sum() / r.strongest_cost.sum())}
        if target is not None:
            p["max_window_dev_points"] = 100.0 * max(abs(w - target) for w in windows) if windows else None
        points.append(p)
    out = _averaged(points, list(points[0]))
    if target is not None:
        out["window_shares"] = [[round(float(r.cost[s:s + WINDOW].sum() / r.strongest_cost[s:s + WINDOW].sum()), 4)
                                 for s in range(0, len(r.cost) - WINDOW + 1, WINDOW)] for r in results]
    return out


def baseline_aiqs(data, litellm: bool = True) -> dict:
    ev = data.eval
    c_max = float(ev.cost.mean(axis=1).max())
    out: dict = {}
    try:
        if not litellm:
            raise RuntimeError("skipped (--no-litellm)")
        pc, pq, _ = baselines.complexity_v2_points(ev.texts, ev.expected, ev.cost, ev.score)
        out["litellm-complexity-v2"] = round(aiq(nondecreasing_hull(pc / c_max, pq)), 6)
    except Exception as exc:  # optional by design, as in `bench routing`
        out["litellm-complexity-v2"] = None
        out["litellm-complexity-v2_error"] = f"{type(exc).__name__}: {exc}"
    singles = [(float(ev.cost[i].mean()) / c_max, float(ev.score[i].mean())) for i in range(len(data.models))]
    out["best-single-model"] = round(max(q * (1 - c) for c, q in singles), 6)
    return out


def summarise(args, data, runs: dict[str, list[RunResult]], known: dict[str, list[RunResult]],
              faults: list[dict], regimes: list[str], marks: list[int]) -> dict:
    models = data.models
    out: dict = {"runs": {r: checkpoints(runs[r]) for r in regimes}}
    out["baselines"] = baseline_aiqs(data, not args.no_litellm)
    if "static" in runs and runs["static"]:
        out["baselines"]["v0-static"] = out["runs"]["static"][-1]["aiq"]
    out["spend"] = {r: spend(runs[r], args.cost_target if r == "target" else None) for r in regimes}
    if args.degrade_at is not None:
        out["drift"] = {r: drift(runs[r], faults, models, data.stream.tasks, args.degrade_at) for r in regimes}
        out["drift_fault"] = faults
    if args.new_model is not None:
        m = models.index(args.new_model)
        out["new_model"] = {r: new_model(runs[r], known[r], m) for r in regimes}
        out["runs_known"] = {r: checkpoints(known[r]) for r in regimes}
    out["settings"] = {k: getattr(args, k) for k in (
        "initial_tasks", "seed_rows", "degrade_at", "new_model", "new_model_rows", "explore", "shadow",
        "shadow_rule", "shadow_budget", "window", "window_clusters", "window_history", "threshold", "cost_target",
        "profile_size", "refresh_every", "seeds", "max_stream")}
    out["settings"]["window"] = args.window or "default"
    out["models"] = models
    out["stream_requests"] = int(len(runs[regimes[0]][0].chosen))
    out["eval_prompts"] = len(data.eval.prompt_ids)
    out["cost_source"] = data.cost_source
    return out


def markdown(results: dict) -> str:
    lines = ["| regime | " + " | ".join(f"AIQ @{c['requests']}" for c in next(iter(results["runs"].values())))
             + " | stream quality | grading / answers spend |",
             "|---|" + "---:|" * (len(next(iter(results["runs"].values()))) + 2)]
    for r, cps in results["runs"].items():
        sp = results["spend"][r]["grading_share"]
        lines.append(f"| {r} | " + " | ".join(_fmt(c["aiq"]) for c in cps)
                     + f" | {_fmt(cps[-1]['stream_quality'])} | {100 * (sp or 0):.1f}% |")
    lines.append("baselines: " + ", ".join(f"{k} {v}" for k, v in results["baselines"].items()))
    for key in ("drift", "new_model"):
        for r, v in results.get(key, {}).items():
            lines.append(f"{key} {r}: " + ", ".join(f"{k} {x}" for k, x in v.items() if k != "sd"))
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"
