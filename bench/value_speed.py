"""Speed of the gateway's hot path: score 1 prompt against C candidates with N-row profiles.

    python -m bench.value_speed --data ../shared/data [--calls 300] [--tabpfn-calls 30]

Query prompts are real prompts of mixed length drawn (seeded) from every dataset under --data;
profiles are real prompts and scores of C models of llmrouter_dcrouter9. The profile states are
built once (as the gateway caches them); every timed call is ``V0.score`` = tokenize + one
backbone pass + adapter + one batched head pass over all candidates. Reports p50/p99 after
warm-up, p50 on prompts that fill the whole token window, and batch-of-32 throughput. The tabpfn
head runs on a randomly initialised checkpoint of the real TabPFN v2 classifier size (speed does
not depend on weight values; its predictions mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from valuemodel import V0
from valuemodel.data import load_dataset
from valuemodel.evaluate import profile_rows
from valuemodel.heads.tabpfn import ENV_CHECKPOINT, random_checkpoint

DATASETS = ["routerbench_train", "llmrouter_dcrouter9", "routellm_2model", "alpacaeval2_wgpt4t", "dapomath"]


def pick_prompts(data: Path, n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for name in DATASETS:
        if not (data / name).is_dir():
            continue
        prompts = list(load_dataset(data / name).prompts.values())
        out += [prompts[i] for i in rng.choice(len(prompts), size=min(n, len(prompts)), replace=False)]
    rng.shuffle(out)
    return out


def timed(fn, items, warmup: int) -> np.ndarray:
    for x in items[:warmup]:
        fn(x)
    times = []
    for x in items[warmup:]:
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return np.array(times) * 1000.0


def summary(ms: np.ndarray) -> dict:
    return {"calls": int(len(ms)), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean())}


def bench_head(v0: V0, states, prompts, long_prompts, args, calls: int) -> dict:
    score = lambda text: v0.score(text, states)  # noqa: E731
    res = {"all": summary(timed(score, prompts[: calls + args.warmup], args.warmup))}
    n_long = max(10, calls // 2)
    warm = min(10, max(2, calls // 10))
    res["long"] = summary(timed(score, long_prompts[: n_long + warm], warm))
    batches = [prompts[i : i + 32] for i in range(0, 32 * args.batches, 32)]
    v0.predict(states, v0.encode(batches[0]))  # warm-up
    t = time.perf_counter()
    for b in batches:
        v0.predict(states, v0.encode(b, batch_size=32))
    elapsed = time.perf_counter() - t
    res["batch32"] = {"batches": len(batches), "prompts_per_s": 32 * len(batches) / elapsed, "ms_per_batch": 1000 * elapsed / len(batches)}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="folder with the shared datasets")
    ap.add_argument("--weights", default=None, help="V0 checkpoint (default: shipped weights)")
    ap.add_argument("--head", default=None, help="V0 head (default: the checkpoint's)")
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--profile-size", type=int, default=256)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--tabpfn-calls", type=int, default=30, help="timed tabpfn calls (each takes seconds on a CPU); 0 skips it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    v0 = V0.load(args.weights, head=args.head)
    pool = pick_prompts(args.data, 2 * args.calls, args.seed)
    n_tokens = np.array([len(ids) for ids in v0.backbone.token_ids(pool)])
    full = v0.backbone.config.max_tokens
    long_prompts = [p for p, n in zip(pool, n_tokens) if n >= full]
    prof = load_dataset(args.data / "llmrouter_dcrouter9")
    models = prof.models[: args.candidates]
    picks = [profile_rows(prof, m, args.profile_size, args.seed) for m in models]

    def states_for(model: V0):
        return [model.fit_profile(model.encode([prof.prompts[p] for p in ids]), y) for ids, y in picks]

    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()}",
        "backbone_runtime": v0.backbone.runtime,
        "max_tokens": full,
        "candidates": len(models),
        "profile_size": args.profile_size,
        "query_tokens": {"median": float(np.median(n_tokens)), "share_full_window": float((n_tokens >= full).mean())},
        "heads": {},
    }
    t = time.perf_counter()
    states = states_for(v0)
    report["profile_build_s"] = time.perf_counter() - t
    report["heads"][v0.head_name] = bench_head(v0, states, pool, long_prompts, args, args.calls)

    if args.tabpfn_calls:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ[ENV_CHECKPOINT] = str(random_checkpoint(Path(tmp) / "tabpfn-random-classifier.ckpt"))
            tab = v0.with_head("tabpfn")
            t = time.perf_counter()
            tab_states = states_for(tab)
            fit_s = time.perf_counter() - t
            res = bench_head(tab, tab_states, pool, long_prompts, argparse.Namespace(**{**vars(args), "batches": 1, "warmup": min(args.warmup, 5)}), args.tabpfn_calls)
            res["profile_fit_s_per_candidate"] = fit_s / len(models)
            res["note"] = "random weights of the real TabPFN v2 classifier size: speed only"
            report["heads"]["tabpfn"] = res

    for name, res in report["heads"].items():
        a, lg, b = res["all"], res["long"], res["batch32"]
        print(
            f"{name:<8} p50 {a['p50_ms']:.1f} ms  p99 {a['p99_ms']:.1f} ms  ({a['calls']} calls)  "
            f"long-prompt p50 {lg['p50_ms']:.1f} ms  batch-32 {b['prompts_per_s']:.0f} prompts/s"
        )
    print(json.dumps({k: v for k, v in report.items() if k != "heads"}))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
