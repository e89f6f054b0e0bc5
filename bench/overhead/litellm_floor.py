"""How much LiteLLM itself adds to one call, in process, before any gateway code runs.

Starts the loopback upstream (bench/loopback.py) as its own process, then times, one call at a
time and in this process: a direct httpx POST, `litellm.acompletion`, and
`litellm.Router.acompletion`.
The difference to the direct call is the floor that any gateway forwarding through LiteLLM
pays on this machine, to set beside the proxy's overhead in run.py's results.

    python -m bench.overhead.litellm_floor [--calls 300]     (from the repository root)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402

from bench.loopback import loopback_process  # noqa: E402


async def timed(call, calls: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        await call()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q * 100) - 1]


async def main(calls: int, base: str) -> None:
    import litellm

    messages = [{"role": "user", "content": "hello"}]
    params = {"model": "openai/bench", "api_base": base, "api_key": "unused"}
    router = litellm.Router(model_list=[{"model_name": "bench", "litellm_params": params}])
    async with httpx.AsyncClient() as client:
        cells = {
            "direct httpx": lambda: client.post(f"{base}/chat/completions", json={"model": "bench", "messages": messages}),
            "litellm.acompletion": lambda: litellm.acompletion(messages=messages, **params),
            "litellm.Router.acompletion": lambda: router.acompletion(model="bench", messages=messages),
        }
        results = {name: await timed(call, calls) for name, call in cells.items()}
    direct = statistics.median(results["direct httpx"])
    print(f"{calls} calls each, one at a time, after 20 warm-up calls")
    print(f"{'path':28} {'p50 ms':>8} {'p99 ms':>8} {'p50 over direct':>16}")
    for name, xs in results.items():
        p50 = statistics.median(xs)
        print(f"{name:28} {p50:8.2f} {quantile(xs, 0.99):8.2f} {p50 - direct:16.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args()
    with loopback_process() as base:
        asyncio.run(main(args.calls, base))
