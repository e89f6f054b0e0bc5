"""CPU per scored prompt on the serving runtime: one at a time, from several threads at once (the
gateway before batching), and in batches (router/scoring/batcher.py), each with numpy's BLAS pool
at its default size and capped at one thread (what ``serve`` sets).

    python -m bench.scoring_batch [--prompts 800]

Profiles: the shipped default profiles (5 candidates x 256 rows, router/data/profiles), fitted
once as the gateway keeps them. Queries: those profiles' prompts, cycled (mixed lengths). Each
timed score is ``predict(states, encode([text]))`` or, batched, ``predict(states, encode(batch))``;
CPU is the whole process's (every thread), so a BLAS pool's spinning threads count. Last, the
p50 wall time of scoring the overhead bench's one-sentence prompt alone (bench/overhead/load.py),
with the BLAS pool capped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from bench.overhead.load import BODY
from router.profiles.seed import default_profiles_dir
from valuemodel.infer import V0Runtime


def load_states(v0: V0Runtime) -> tuple[list, list[str]]:
    states, prompts = [], []
    for path in sorted(default_profiles_dir().glob("*.jsonl")):
        rows = [json.loads(line) for line in path.open()]
        prompts += [r["prompt"] for r in rows]
        states.append(v0.fit_profile(v0.encode([r["prompt"] for r in rows]), [r["score"] for r in rows]))
    return states, prompts


def per_prompt(fn, n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per prompt of ``fn()``, which scores ``n`` prompts."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return 1000 * (time.process_time() - c0) / n, 1000 * (time.perf_counter() - w0) / n


def measure(v0: V0Runtime, states: list, texts: list[str]) -> dict[str, tuple[float, float]]:
    def one(text: str) -> None:
        v0.predict(states, v0.encode([text]))

    def batched(size: int) -> None:
        for i in range(0, len(texts), size):
            v0.predict(states, v0.encode(texts[i : i + size]))

    out = {}
    for _ in texts[:20]:  # warm-up
        one(_)
    out["one at a time"] = per_prompt(lambda: [one(t) for t in texts], len(texts))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, texts[:20]))
        out["4 threads, one each"] = per_prompt(lambda: list(pool.map(one, texts)), len(texts))
    for size in (8, 32):
        out[f"batches of {size}"] = per_prompt(lambda: batched(size), len(texts))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=800, help="scores per measurement")
    a = ap.parse_args()
    v0 = V0Runtime.load(threads=1)
    states, prompts = load_states(v0)
    texts = [prompts[(i * 7919) % len(prompts)] for i in range(a.prompts)]  # a fixed mix of lengths
    rows = {}
    with threadpool_limits(limits=1, user_api="blas"):
        rows["BLAS 1 thread"] = measure(v0, states, texts)
    rows[f"BLAS default ({os.cpu_count()} CPUs)"] = measure(v0, states, texts)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {len(states)} candidates x 256 rows; "
          f"{len(texts)} prompts per row; ms per prompt")
    print("| BLAS pool | scoring | CPU ms | wall ms |\n|---|---|---:|---:|")
    for blas, res in rows.items():
        for how, (cpu, wall) in res.items():
            print(f"| {blas} | {how} | {cpu:.2f} | {wall:.2f} |")
    text = BODY["messages"][0]["content"]
    with threadpool_limits(limits=1, user_api="blas"):
        times = []
        for i in range(320):
            t0 = time.perf_counter()
            v0.predict(states, v0.encode([text]))
            if i >= 20:
                times.append(time.perf_counter() - t0)
    print(f"overhead bench prompt {text!r}, alone: p50 {1000 * float(np.median(times)):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
