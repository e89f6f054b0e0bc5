"""Routing overhead of the gateway with V0: 5 candidates, 256-row profiles, this CPU.

Starts the loopback upstream (bench/loopback.py) and the gateway, each as its own process
(`v0-gateway serve`, V0_DEBUG_TIMING=1) on a new SQLite database, with five candidates named
like the default models so that their shipped 256-row profiles (router/data/profiles/) are
seeded on start. Then, one request at a time:

- routed:        POST /v1/chat/completions model "router/bench" (V0 scores all 5 candidates);
                 overhead = the gateway's x-v0-overhead-ms header: request receipt -> the call
                 into LiteLLM (body parsing, auth, routing text, token count, V0 encode + 5
                 predictions, decision); the upstream and LiteLLM's own request building are
                 excluded.
- pass-through:  the same request for a candidate by name (not scored): the gateway's base cost.
- /v1/route:     the decision alone, measured by the client (HTTP round trip included).
- upload:        a new 256-row profile (texts never encoded before) through the admin API: how
                 long the call takes, how long after it returns the next /v1/route uses the new
                 version on the same gateway, and (with --replica) on a second gateway process
                 on the same database (poll loop + encoding there).

Bounded: --requests per phase (default 200), loopback only, no network.

    python -m bench.routing_overhead [--requests 200] [--replica] [--out results.json]

Run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.loopback import free_port, loopback_process
from router.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "router" / "data" / "profiles"
# (candidate = default profile name, USD per 1M tokens in/out)
CANDIDATES = [("gemma-2-9b-it", 0.1), ("qwen2.5-7b-instruct", 0.2), ("llama-3.1-8b-instruct", 0.2),
              ("llama-3.1-nemotron-51b-instruct", 0.9), ("llama-3.3-nemotron-super-49b-v1", 0.9)]
ADMIN = "bench-admin"


def policies(upstream: str) -> str:
    cands = "".join(f"  {n}:\n    model: openai/{n}\n    api_base: {upstream}\n    input_price: {p}\n"
                    f"    output_price: {p}\n    num_retries: 0\n" for n, p in CANDIDATES)
    names = ", ".join(n for n, _ in CANDIDATES)
    return (f"default_policy: bench\ncandidates:\n{cands}policies:\n  bench:\n    candidates: [{names}]\n"
            f"    threshold: 0.65\n    fallback: {CANDIDATES[3][0]}\n    profile_size: 256\n")


def start_gateway(env: dict[str, str], port: int, log: Path) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    env = {**env, "V0_STATE_DIR": str(log.parent / f"state-{port}")}  # one spool per replica
    proc = subprocess.Popen([sys.executable, "-m", "router.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc, time.perf_counter() - started
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"gateway exited; see {log}")
        time.sleep(0.2)


def pct(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"n": len(a), "p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "mean": round(float(a.mean()), 3)}


def version_seen(base: str, text: str, model: str) -> int:
    r = httpx.post(f"{base}/v1/route", json={"model": "auto", "messages": [{"role": "user", "content": text}]}, timeout=30)
    return next(c["profile_version"] for c in r.json()["candidates"] if c["name"] == model)


def measure(args: argparse.Namespace, upstream: str) -> dict[str, Any]:
    """Start the gateway (and with --replica a second one) against ``upstream``; time every phase."""
    work = Path(tempfile.mkdtemp(prefix="v0-overhead-"))
    (work / "policies.yaml").write_text(policies(upstream))
    url = f"sqlite:///{work}/bench.db"
    upgrade(url)
    env = {**os.environ, "V0_DATABASE_URL": url, "V0_POLICIES": str(work / "policies.yaml"), "V0_ADMIN_KEY": ADMIN,
           "V0_DEBUG_TIMING": "1", "V0_POLICY_RELOAD_S": "0", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    port = free_port()
    procs = []
    try:
        proc, start_s = start_gateway(env, port, work / "gateway.log")
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        print(f"gateway ready in {start_s:.1f} s (V0 load, seeding, encoding the profile prompts)")
        prompts = [json.loads(line)["prompt"] for line in (PROFILES / "gemma-2-9b-it.jsonl").open()]
        rng = random.Random(0)
        texts = [f"{rng.choice(prompts)}\n\nAnswer briefly (request {i})." for i in range(args.warmup + args.requests)]
        client = httpx.Client(timeout=60)
        results: dict[str, Any] = {"requests": args.requests, "start_s": round(start_s, 2)}

        def run(model: str, path: str = "/v1/chat/completions") -> tuple[list[float], list[float]]:
            header, wall = [], []
            for i, text in enumerate(texts):
                t0 = time.perf_counter()
                r = client.post(base + path, json={"model": model, "messages": [{"role": "user", "content": text}]})
                t1 = time.perf_counter()
                assert r.status_code == 200, r.text
                if i >= args.warmup:
                    wall.append((t1 - t0) * 1000)
                    if "x-v0-overhead-ms" in r.headers:
                        header.append(float(r.headers["x-v0-overhead-ms"]))
            return header, wall

        routed_h, routed_w = run("router/bench")
        plain_h, plain_w = run(CANDIDATES[0][0])
        _, route_w = run("router/bench", "/v1/route")
        direct = []
        for text in texts[args.warmup:]:
            t0 = time.perf_counter()
            client.post(upstream + "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": text}]})
            direct.append((time.perf_counter() - t0) * 1000)
        results.update({"routed_overhead_ms": pct(routed_h), "passthrough_overhead_ms": pct(plain_h),
                        "route_endpoint_ms": pct(route_w), "routed_end_to_end_ms": pct(routed_w),
                        "passthrough_end_to_end_ms": pct(plain_w), "direct_upstream_ms": pct(direct)})

        replica = None
        if args.replica:
            port2 = free_port()
            proc2, start2 = start_gateway(env, port2, work / "replica.log")
            procs.append(proc2)
            replica = f"http://127.0.0.1:{port2}"
            print(f"replica ready in {start2:.1f} s")
        rows = "".join(json.dumps({"prompt": f"[v2] {p}", "score": float(i % 3 == 0)}) + "\n" for i, p in enumerate(prompts))
        model, probe = CANDIDATES[0][0], texts[0]
        t0 = time.perf_counter()
        r = client.post(f"{base}/admin/profiles/{model}?mode=replace", content=rows.encode(),
                        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/jsonl"}, timeout=300)
        t1 = time.perf_counter()
        assert r.status_code == 201, r.text
        version = r.json()["version"]
        assert version_seen(base, probe, model) == version
        t2 = time.perf_counter()
        upload = {"rows": 256, "call_s": round(t1 - t0, 3), "routable_after_return_s": round(t2 - t1, 3)}
        if replica:
            while version_seen(replica, probe, model) != version:
                time.sleep(0.05)
            upload["replica_routable_after_return_s"] = round(time.perf_counter() - t1, 3)
        results["upload_256"] = upload
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200, help="requests per phase (default 200)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--replica", action="store_true", help="also time the upload on a second gateway process")
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    with loopback_process() as upstream:
        results = measure(args, upstream)

    for name in ("routed_overhead_ms", "passthrough_overhead_ms", "route_endpoint_ms", "routed_end_to_end_ms",
                 "passthrough_end_to_end_ms", "direct_upstream_ms"):
        f = results[name]
        print(f"{name:28s} p50 {f['p50']:8.3f}  p99 {f['p99']:8.3f}  (n={f['n']})")
    print("upload of 256 rows:", json.dumps(results["upload_256"]))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
