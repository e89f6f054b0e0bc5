"""POST /v1/score throughput and POST /v1/allocate latency, against a gateway process.

Starts `v0-gateway serve` (SQLite in a temporary folder, no seeded profiles, the repository's
policies.yaml), then sends inline profiles of 256 graded prompts (the shipped default profile of
gemma-2-9b-it) with batches of prompts made from the same file (distinct texts, so nothing is
cached). Prints seconds per call and prompts per second; `--out` writes them as JSON.

    python -m bench.rollouts_speed [--prompts 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "router" / "data" / "profiles" / "gemma-2-9b-it.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(client: httpx.Client, url: str, body: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.post(url, json=body)
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200, r.text
    return elapsed, r.json()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()
    rows = [json.loads(line) for line in PROFILE.open()]
    profile = [{"prompt": r["prompt"], "score": r["score"]} for r in rows]
    work = Path(tempfile.mkdtemp(prefix="v0-rollouts-"))
    url = f"sqlite:///{work}/bench.db"
    from router.migrate import upgrade

    upgrade(url)
    port = free_port()
    env = {**os.environ, "V0_DATABASE_URL": url, "V0_SEED_PROFILES": "0", "V0_STATE_DIR": str(work / "state"),
           "V0_POLICY_RELOAD_S": "0", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.Popen([sys.executable, "-m", "router.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            env=env, cwd=REPO, stdout=(work / "gateway.log").open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"gateway exited; see {work / 'gateway.log'}")
            time.sleep(0.2)
        client = httpx.Client(timeout=600)
        texts = [f"{rows[i % len(rows)]['prompt']}\n(variant {i})" for i in range(args.prompts * (args.repeats + 1))]
        timed(client, base + "/v1/score", {"profile": profile, "prompts": texts[:8]})  # warm-up
        result: dict[str, object] = {"prompts": args.prompts, "profile_rows": len(profile)}
        small = [timed(client, base + "/v1/score", {"profile": profile, "prompts": texts[i:i + 8]})[0]
                 for i in range(0, 8 * args.repeats, 8)]
        big = [timed(client, base + "/v1/score", {"profile": profile,
                                                  "prompts": texts[(k + 1) * args.prompts:(k + 2) * args.prompts]})[0]
               for k in range(args.repeats)]
        result["score_profile_plus_8_prompts_s"] = round(min(small), 3)
        result["score_call_s"] = round(min(big), 3)
        result["score_prompts_per_s"] = round(args.prompts / min(big), 1)
        result["score_prompts_per_s_without_profile"] = round((args.prompts - 8) / (min(big) - min(small)), 1)
        alloc = {"profile": profile, "prompts": texts[:64], "total_budget": 8 * 64}
        result["allocate_64_prompts_s"] = round(min(timed(client, base + "/v1/allocate", alloc)[0]
                                                   for _ in range(args.repeats)), 3)
        big_alloc = {"profile": profile, "prompts": texts[:args.prompts], "total_budget": 8 * args.prompts}
        result["allocate_call_s"] = round(min(timed(client, base + "/v1/allocate", big_alloc)[0]
                                             for _ in range(args.repeats)), 3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
