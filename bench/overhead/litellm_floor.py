"""How much LiteLLM itself adds to one call, in process, before any gateway code runs.

Starts the instant loopback upstream (upstream.py), then times, one call at a time and in the
same process: a direct httpx POST, `litellm.acompletion`, and `litellm.Router.acompletion`.
The difference to the direct call is the floor that any gateway forwarding through LiteLLM
pays on this machine, to set beside the proxy's overhead in run.py's results.

    python bench/overhead/litellm_floor.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402

from run import free_port  # noqa: E402  (bench/overhead/run.py)


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
    port = free_port()
    upstream = subprocess.Popen([sys.executable, str(Path(__file__).with_name("upstream.py")), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        for _ in range(100):  # wait for the upstream, at most 10 s
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(main(args.calls, base))
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
