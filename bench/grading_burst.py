"""Chat latency during a burst of grades, against none: do grades rebuild a profile state each?

    python -m bench.grading_burst [--requests 300] [--concurrency 4] [--grades-per-s 50]

The gateway (the serving V0 runtime, shipped weights; SQLite) with two candidates whose
profiles are the shipped default profiles of two models (256 rows each), on a loopback upstream.
Phase ``none``: ``--requests`` routed chat requests from ``--concurrency`` clients, latency per
request. Phase ``burst``: the same load while grades arrive at ``--grades-per-s`` through
``POST /v1/feedback`` (each grade bumps the answering model's profile version, so each would
rebuild its state without coalescing). Run once per ``--refresh-s`` value: the shipped
``V0_PROFILE_REFRESH_S`` 0.5; 0 (one rebuild at a time, no interval); -1 (before coalescing: each
grade waits for a rebuild of its own, as the gateway did before router/profiles/refresh.py). Prints one JSON line
per phase: p50/p99 chat latency (ms), grades sent, profile-state rebuilds run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.loopback import LoopbackUpstream, ServerThread
from router.app import create_app, load_v0
from router.migrate import upgrade
from router.profiles.seed import default_profiles_dir
from router.settings import Settings

MODELS = ("gemma-2-9b-it", "llama-3.1-nemotron-51b-instruct")


def policies(base: str) -> str:
    cands = "".join(f"  {m}:\n    model: openai/fake-ok\n    api_base: {base}\n    input_price: {p}\n"
                    f"    output_price: {p}\n    num_retries: 0\n" for m, p in zip(MODELS, (0.1, 0.9)))
    return (f"default_policy: main\ncandidates:\n{cands}policies:\n  main:\n    candidates: [{', '.join(MODELS)}]\n"
            f"    threshold: 0.6\n    fallback: {MODELS[1]}\n")


def prompts() -> list[str]:
    return [json.loads(line)["prompt"] for line in (default_profiles_dir() / f"{MODELS[0]}.jsonl").open()]


async def chat_load(base: str, texts: list[str], n: int, concurrency: int) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    ids: list[str] = []
    queue = list(range(n))

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            r = await http.post("/v1/chat/completions", json={"model": "auto", "messages": [
                {"role": "user", "content": texts[i % len(texts)]}]})
            latencies.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
            ids.append(r.headers["x-v0-decision-id"])

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return latencies, ids


async def grades(base: str, ids: list[str], per_s: float, stop: asyncio.Event) -> tuple[int, int]:
    """Grades sent at ``per_s`` until ``stop``; returns (sent, answered 200 within 60 s)."""
    sent = 0

    async def one(http: httpx.AsyncClient, decision: str, score: float) -> bool:
        try:
            return (await http.post("/v1/feedback", json={"decision_id": decision, "score": score})).status_code == 200
        except httpx.TimeoutException:
            return False

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        pending = set()
        while not stop.is_set():
            decision = ids[sent % len(ids)]
            pending.add(asyncio.create_task(one(http, decision, float(sent % 2))))
            sent += 1
            await asyncio.sleep(1 / per_s)
        ok = sum(await asyncio.gather(*pending))
    return sent, ok


def figures(name: str, refresh_s: float, latencies: list[float], **extra: object) -> dict[str, object]:
    lat = np.array(latencies)
    return {"phase": name, "refresh_s": refresh_s, "requests": len(lat), "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), **extra}


def run_one(args: argparse.Namespace, v0: object, upstream: LoopbackUpstream, refresh_s: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="v0-grading-burst-"))
    url = f"sqlite:///{folder}/v0.db"
    upgrade(url)
    (folder / "policies.yaml").write_text(policies(upstream.base_url))
    settings = Settings(database_url=url, policies=folder / "policies.yaml", state_dir=str(folder / "state"),
                        profile_refresh_s=max(refresh_s, 0.0), policy_reload_s=0, profile_poll_s=1, db_timeout_s=30)
    app = create_app(settings, v0=v0)
    server = ServerThread(app, lifespan="on", access_log=False)
    base = f"http://127.0.0.1:{server.start(timeout=300)}"
    try:
        texts = prompts()
        asyncio.run(chat_load(base, texts, 20, args.concurrency))  # warm-up
        latencies, ids = asyncio.run(chat_load(base, texts, args.requests, args.concurrency))
        print(json.dumps(figures("none", refresh_s, latencies)), flush=True)
        refresher = app.state.profiles.refresher
        if refresh_s < 0:  # before coalescing: every grade waited for its own rebuild
            refresher.wait = refresher.now  # type: ignore[method-assign]
        runs = refresher.runs

        async def burst() -> tuple[list[float], tuple[int, int]]:
            stop = asyncio.Event()
            grading = asyncio.create_task(grades(base, ids, args.grades_per_s, stop))
            lat, _ = await chat_load(base, texts, args.requests, args.concurrency)
            stop.set()
            return lat, await grading

        latencies, (sent, ok) = asyncio.run(burst())
        print(json.dumps(figures("burst", refresh_s, latencies, grades=sent, grades_ok=ok,
                                 rebuilds=refresher.runs - runs)),
              flush=True)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--grades-per-s", type=float, default=50.0)
    parser.add_argument("--refresh-s", type=float, nargs="+", default=[0.5, 0.0, -1.0])
    args = parser.parse_args()
    v0 = load_v0(Settings())
    with LoopbackUpstream() as upstream:
        for refresh_s in args.refresh_s:
            run_one(args, v0, upstream, refresh_s)


if __name__ == "__main__":
    main()
