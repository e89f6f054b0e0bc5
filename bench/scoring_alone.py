"""One prompt scored alone, as an idle gateway scores it: the backbone pass with one ONNX Runtime
thread (what ``serve`` runs) against a session with more threads (``--threads``; interleaved call
by call so that both see the same machine), then the head pass over 5 candidates for 1 and for 32
queries.

    python -m bench.scoring_alone [--calls 300] [--threads 2]

Profiles: the shipped default profiles (5 candidates x 256 rows, router/data/profiles). Prompts:
the overhead bench's one sentence (bench/overhead/load.py) and a fixed mix of the profiles' own
prompts (mostly longer). numpy's BLAS pool is capped at one thread, as ``serve`` sets it. Prints
p50 wall ms per call. (No CPU column: a multi-thread session's pool keeps spinning after its
call returns, into whatever runs next.)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bench.overhead.load import BODY
from bench.scoring_batch import load_states
from valuemodel.infer import V0Runtime


def p50_ms(fn, calls: int, warmup: int = 10) -> float:
    times = []
    for i in range(calls + warmup):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def backbone_ab(sessions: dict[str, V0Runtime], texts: list[str], calls: int) -> dict[str, float]:
    """p50 wall ms per single-text encode for each runtime, interleaved call by call."""
    wall: dict[str, list[float]] = {name: [] for name in sessions}
    for i in range(calls + 10):
        text = texts[i % len(texts)]
        for name, v0 in sessions.items():
            t0 = time.perf_counter()
            v0.encode([text])
            if i >= 10:
                wall[name].append(time.perf_counter() - t0)
    return {k: 1000 * float(np.median(v)) for k, v in wall.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=300, help="timed calls per figure")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads of the compared session")
    a = ap.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):
        v0 = V0Runtime.load(threads=1)
        sessions = {"1 thread": v0, f"{a.threads} threads": V0Runtime.load(threads=a.threads)}
        states, prompts = load_states(v0)
        mixed = [prompts[(i * 7919) % len(prompts)] for i in range(64)]
        sentence = BODY["messages"][0]["content"]
        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {len(states)} candidates "
              "x 256 rows; p50 wall ms per call")
        print("| backbone pass, one prompt | ONNX Runtime threads | p50 wall ms |\n|---|---|---:|")
        for label, texts in ((repr(sentence), [sentence]), ("profile prompts (mixed lengths)", mixed)):
            for name, wall in backbone_ab(sessions, texts, a.calls).items():
                print(f"| {label} | {name} | {wall:.2f} |")
        one, many = v0.encode([sentence]), v0.encode(mixed[:32])
        print("| head pass, 5 candidates | p50 wall ms |\n|---|---:|")
        print(f"| 1 query | {p50_ms(lambda: v0.predict(states, one), a.calls):.2f} |")
        print(f"| 32 queries | {p50_ms(lambda: v0.predict(states, many), max(20, a.calls // 10)):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
