"""Chat latency while clients send a burst of grades: chat p50/p99 alone, then while 500
POST /v1/feedback calls arrive at once (the gateway as a real process with the real V0 scorer,
SQLite, the loopback upstream; every grade joins a profile, so states are rebuilt).

    python -m bench.feedback_load [--grades 500] [--chats 200] [--concurrency 4]

Prints both phases' chat latency, the ratio of the p99s, /healthz latency during the grades (the
event loop alone), and how the grades ended (status codes) with their own p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.faults.gateway_process import CLIENT_KEY, GatewayProcess
from bench.loopback import loopback_process

ADMIN = "bench-admin"
PROMPTS = [f"Question {i}: what is {i} plus {i * 7}? Answer briefly." for i in range(64)]


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


async def chats(client: httpx.AsyncClient, n: int, concurrency: int) -> tuple[list[float], list[str]]:
    times: list[float] = []
    ids: list[str] = []
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            r = await client.post("/v1/chat/completions", json={
                "model": "router/balanced", "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]})
            times.append(time.perf_counter() - started)
            if r.status_code == 200:
                ids.append(r.headers["x-v0-decision-id"])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times, ids


async def grades(client: httpx.AsyncClient, ids: list[str]) -> tuple[list[float], dict[int, int]]:
    times: list[float] = []
    codes: dict[int, int] = {}

    async def one(decision_id: str, score: float) -> None:
        started = time.perf_counter()
        r = await client.post("/v1/feedback", json={"decision_id": decision_id, "score": score})
        times.append(time.perf_counter() - started)
        codes[r.status_code] = codes.get(r.status_code, 0) + 1

    await asyncio.gather(*(one(d, (i % 5) / 4) for i, d in enumerate(ids)))
    return times, codes


async def grades_from(base: str, headers: dict[str, str], ids: list[str]) -> tuple[list[float], dict[int, int]]:
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120,
                                 limits=httpx.Limits(max_connections=len(ids) + 10)) as client:
        return await grades(client, ids)


async def probes(client: httpx.AsyncClient, stop: asyncio.Event) -> list[float]:
    """/healthz latencies (no database, no scoring) until ``stop``."""
    times: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        await client.get("/healthz")
        times.append(time.perf_counter() - started)
        await asyncio.sleep(0.1)
    return times


async def run(base: str, n_grades: int, n_chats: int, concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120,
                                 limits=httpx.Limits(max_connections=50)) as client:
        rows = "\n".join(f'{{"prompt": "{p}", "score": {(i % 3) / 2}}}' for i, p in enumerate(PROMPTS))
        for model in ("ok", "strong"):
            r = await client.post(f"/admin/profiles/{model}", content=rows, headers={"Authorization": f"Bearer {ADMIN}"})
            r.raise_for_status()
        _, ids = await chats(client, n_grades, 8)  # decisions to grade (also warms the scorer)
        alone, _ = await chats(client, n_chats, concurrency)
        # The burst comes from another thread with its own loop and connection pool: the
        # measuring client's loop must not be the one that queues 500 requests.
        burst = asyncio.create_task(asyncio.to_thread(asyncio.run, grades_from(base, headers, ids)))
        stop = asyncio.Event()
        probe = asyncio.create_task(probes(client, stop))
        during, _ = await chats(client, n_chats, concurrency)
        grade_times, codes = await burst
        stop.set()
        health = await probe
    print(f"chat alone:         p50 {pct(alone, .5):8.1f} ms  p99 {pct(alone, .99):8.1f} ms  ({len(alone)} requests)")
    print(f"chat during grades: p50 {pct(during, .5):8.1f} ms  p99 {pct(during, .99):8.1f} ms  ({len(during)} requests)")
    print(f"p99 ratio (during / alone): {pct(during, .99) / pct(alone, .99):.2f}")
    print(f"GET /healthz every 0.1 s meanwhile: p50 {pct(health, .5):.1f} ms, max {max(health) * 1000:.1f} ms "
          "(the gateway's event loop itself)")
    print(f"grades: {len(ids)} sent, status codes {dict(sorted(codes.items()))}, "
          f"p50 {pct(grade_times, .5):.1f} ms, p99 {pct(grade_times, .99):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grades", type=int, default=500)
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--scorer", default="v0", choices=["v0", "stand-in"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, loopback_process() as upstream:
        from router.migrate import upgrade

        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        gateway = GatewayProcess(Path(tmp), url, upstream, V0_SCORER=args.scorer,
                                 V0_ADMIN_KEY=ADMIN, V0_SEED_PROFILES="false")
        gateway.start(timeout=180)
        try:
            asyncio.run(run(gateway.base_url, args.grades, args.chats, args.concurrency))
        finally:
            gateway.stop()


if __name__ == "__main__":
    main()
