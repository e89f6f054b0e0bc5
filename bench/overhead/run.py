"""Gateway overhead, side by side with LiteLLM's proxy, against one instant loopback upstream.

One run starts the loopback upstream (bench/loopback.py) as its own process on 127.0.0.1 and
measures, in the same run on the same machine:
- `direct`:         the client calls the upstream itself (the baseline every overhead is against);
- `litellm-proxy`:  LiteLLM's own proxy (`litellm --config`, one worker, no database, master key);
- `gateway-plain`:  this gateway, request for a plain candidate (forwarded unrouted);
- `gateway-routed`: this gateway, `router/bench` policy with 5 candidates (with --routed): V0
                    scores every candidate against a 256-row profile, uploaded through the admin
                    API before measuring (bench/overhead/profiles.py).
Each is measured non-streaming and streaming, at concurrency 1 and 32: p50/p95/p99 latency, time
to first token (streaming), requests per second, and the server's resident memory (idle after
start, and the peak while loaded), plus its start time. Overhead = p50 latency minus `direct`'s
p50 in the same cell. Bounded: at most --requests-1 / --requests-32 requests and --max-seconds per
cell; loopback only.

    python -m bench.overhead.run --out runs/overhead [--routed] [--skip-litellm] [--workers N] [--surface S]

``--surface chat|responses|messages`` loads the proxy and the gateway on that API (each client
sends the surface's own wire format; `direct` stays on the upstream's chat completions), and the
ratios put each gateway cell's p50 beside the proxy's on the same surface.

``--workers N`` runs the gateway as ``v0-gateway serve --workers N`` (its RSS is the whole process
tree's); with ``--routed`` the run waits until every worker has picked up the uploaded profiles.

Run it from the repository root. The jobs live beside this file: servers.py (processes, memory), load.py (one cell's requests),
report.py (ratios, Markdown), profiles.py (the routed candidates' profiles).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.loopback import free_port, process_argv
from bench.overhead.load import run_cell
from bench.overhead.profiles import upload_profiles
from bench.overhead.report import markdown, ratios
from bench.overhead.servers import REPO, Server

KEY = "sk-bench-0000"
N_CANDIDATES = 5


def policies_yaml(upstream: str) -> str:
    lines = ["default_policy: bench", "candidates:"]
    for i in range(1, N_CANDIDATES + 1):
        lines.append(f"  bench-c{i}: {{model: openai/bench-c{i}, api_base: {upstream}, api_key_env: BENCH_UPSTREAM_KEY, "
                     f"input_price: {0.1 * i:.2f}, output_price: {0.4 * i:.2f}, num_retries: 0}}")
    names = ", ".join(f"bench-c{i}" for i in range(1, N_CANDIDATES + 1))
    lines += ["policies:", f"  bench: {{candidates: [{names}], threshold: 0.7, fallback: bench-c{N_CANDIDATES}, profile_size: 256}}"]
    return "\n".join(lines) + "\n"


def litellm_config(upstream: str, surface: str = "chat") -> str:
    """The proxy's config: one `openai/` deployment at the loopback. On the Responses and Messages
    surfaces the proxy is told to bridge to the upstream's chat completions, as the gateway does
    (by default LiteLLM sends both to the upstream's own /v1/responses, which a chat-only upstream
    answers 404): `use_chat_completions_api` on the deployment, and
    `use_chat_completions_url_for_anthropic_messages` for /v1/messages."""
    bridge = {"chat": ("", ""), "responses": (", use_chat_completions_api: true", ""),
              "messages": ("", "use_chat_completions_url_for_anthropic_messages: true, ")}[surface]
    return (
        "model_list:\n"
        "  - model_name: bench-c1\n"
        "    litellm_params: {model: openai/bench-c1, api_base: " + upstream + ", api_key: sk-upstream" + bridge[0] + "}\n"
        "litellm_settings: {" + bridge[1] + "drop_params: true, num_retries: 0, telemetry: false}\n"
        "general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}\n"
    )


def prepare_routed(base: str, profiles_dir: str | None) -> str:
    """Give the 5 candidates 256-row profiles through the gateway's admin API.
    Returns a note saying what scores the routed requests."""
    return upload_profiles(base, KEY, [f"bench-c{i}" for i in range(1, N_CANDIDATES + 1)], 256, profiles_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/overhead", help="folder for results.json and results.md")
    ap.add_argument("--requests-1", type=int, default=200, help="requests per cell at concurrency 1")
    ap.add_argument("--requests-32", type=int, default=640, help="requests per cell at concurrency 32")
    ap.add_argument("--warmup", type=int, default=10, help="unmeasured requests per cell")
    ap.add_argument("--max-seconds", type=float, default=25.0, help="cap per cell")
    ap.add_argument("--concurrency", default="1,32")
    ap.add_argument("--routed", action="store_true", help="also measure the routed policy (V0, 5 candidates, 256-row profiles)")
    ap.add_argument("--profiles", default=None, help="dataset folder to draw the routed candidates' 256-row profiles from (default: synthetic prompts)")
    ap.add_argument("--skip-litellm", action="store_true")
    ap.add_argument("--surface", default="chat", choices=["chat", "responses", "messages"],
                    help="the API the proxy and the gateway are loaded on (direct: always chat)")
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes (serve --workers)")
    a = ap.parse_args(argv)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="v0-overhead-"))
    py = sys.executable
    bin_dir = Path(py).parent
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
    servers: list[Server] = []
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
                     "servers": {}, "cells": [], "notes": [], "gateway_workers": a.workers, "surface": a.surface}
    if a.workers > 1:
        results["notes"].append(f"gateway: serve --workers {a.workers} (RSS: the whole process tree)")
    concurrencies = [int(c) for c in a.concurrency.split(",")]
    try:
        up_port = free_port()
        upstream = Server("upstream", process_argv(up_port), env, f"http://127.0.0.1:{up_port}/health",
                          work / "upstream.log", KEY)
        servers.append(upstream)
        up_base = f"http://127.0.0.1:{up_port}/v1"
        targets: list[tuple[str, str, str, Server | None]] = [("direct", up_base, "bench-c1", None)]

        if not a.skip_litellm:
            cfg = work / "litellm.yaml"
            cfg.write_text(litellm_config(up_base, a.surface))
            port = free_port()
            litellm_bin = shutil.which("litellm", path=str(bin_dir)) or "litellm"
            try:
                px = Server("litellm-proxy", [litellm_bin, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                            {**env, "LITELLM_MASTER_KEY": KEY, "LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true"},
                            f"http://127.0.0.1:{port}/health/liveliness", work / "litellm.log", KEY)
                servers.append(px)
                targets.append(("litellm-proxy", f"http://127.0.0.1:{port}/v1", "bench-c1", px))
            except RuntimeError as exc:
                results["notes"].append(f"litellm-proxy unavailable: {exc}: " + (work / "litellm.log").read_text()[-800:])

        pol = work / "policies.yaml"
        pol.write_text(policies_yaml(up_base))
        db = f"sqlite:///{work / 'gateway.db'}"
        genv = {**env, "V0_CLIENT_KEYS": KEY, "BENCH_UPSTREAM_KEY": "sk-upstream", "V0_DATABASE_URL": db,
                "V0_POLICIES": str(pol), "V0_ADMIN_KEY": KEY, "V0_SEED_PROFILES": "false",
                "V0_STATE_DIR": str(work / "state")}
        subprocess.run([py, "-m", "router.cli", "migrate"], env=genv, cwd=str(REPO), check=True, capture_output=True)
        port = free_port()
        gw = Server("gateway", [py, "-m", "router.cli", "serve", "--port", str(port), "--workers", str(a.workers),
                                "--log-level", "warning"], genv,
                    f"http://127.0.0.1:{port}/healthz", work / "gateway.log", KEY)
        servers.append(gw)
        gbase = f"http://127.0.0.1:{port}/v1"
        targets.append(("gateway-plain", gbase, "bench-c1", gw))
        if a.routed:
            results["routed_scorer"] = prepare_routed(f"http://127.0.0.1:{port}", a.profiles)
            if a.workers > 1:  # the other workers pick the profiles up by their version poll (1 s)
                time.sleep(5.0)
            targets.append(("gateway-routed", gbase, "router/bench", gw))

        for s in servers:
            results["servers"][s.name] = {"start_s": round(s.start_s, 2), "rss_idle_mib": round(s.rss(), 1)}

        for stream in (False, True):
            for conc in concurrencies:
                n = a.requests_1 if conc == 1 else a.requests_32
                base_cell = None
                for name, base, model, srv in targets:
                    if srv is not None:
                        cpu0 = srv.cpu_s()
                        with srv.sample_peak():
                            cell = asyncio.run(run_cell(name, base, model, stream, conc, n, a.warmup, a.max_seconds, KEY,
                                                        a.surface))
                        cell.cpu_ms_per_request = 1000 * (srv.cpu_s() - cpu0) / max(1, cell.n + a.warmup)
                    else:
                        cell = asyncio.run(run_cell(name, base, model, stream, conc, n, a.warmup, a.max_seconds, KEY))
                    if name == "direct":
                        base_cell = cell
                    elif base_cell and cell.p50_ms is not None and base_cell.p50_ms is not None:
                        cell.overhead_p50_ms = cell.p50_ms - base_cell.p50_ms
                        cell.overhead_p99_ms = cell.p99_ms - base_cell.p99_ms
                    results["cells"].append(asdict(cell))
                    print(f"{name:15s} stream={stream!s:5s} c={conc:<3d} n={cell.n:<4d} err={cell.errors:<3d} "
                          f"p50={cell.p50_ms or 0:7.1f}ms p99={cell.p99_ms or 0:7.1f}ms rps={cell.rps:7.1f}"
                          + (f" ttft50={cell.ttft_p50_ms:6.1f}ms" if cell.ttft_p50_ms else "")
                          + (f" cpu={cell.cpu_ms_per_request:5.1f}ms/req" if cell.cpu_ms_per_request else ""), flush=True)
        for s in servers:
            results["servers"][s.name]["rss_peak_mib"] = round(max(s.peak, s.rss()), 1)
    finally:
        for s in reversed(servers):
            s.stop()
    results["ratios"] = ratios(results["cells"])
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
