"""Gateway overhead, side by side with LiteLLM's proxy, against one instant loopback upstream.

One run starts a fast OpenAI-compatible upstream (bench/overhead/upstream.py) on 127.0.0.1 and
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

    python bench/overhead/run.py --out runs/overhead [--routed] [--skip-litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KEY = "sk-bench-0000"
BODY = {"messages": [{"role": "user", "content": "Write one sentence about routers."}], "max_tokens": 16}
N_CANDIDATES = 5


# ---- processes -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc), MiB."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Server:
    """A server process in its own process group, stopped by its own pid/group only."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], ready_url: str, log: Path):
        self.name, self.ready_url = name, ready_url
        self.log = log.open("wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(REPO))
        self.start_s = self._wait_ready(t0)
        self.peak = 0.0
        self._sampling = False

    def _wait_ready(self, t0: float, timeout: float = 120.0) -> float:
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.ready_url, timeout=1.0, headers={"Authorization": f"Bearer {KEY}"}).status_code < 500:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s; see {self.log.name}")

    def rss(self) -> float:
        return tree_rss_mib(self.proc.pid)

    def sample_peak(self):
        """Context: sample RSS every 0.2 s while the block runs; keeps the max in self.peak."""
        server = self

        class _Sampler:
            def __enter__(self_inner):
                server._sampling = True
                self_inner.t = threading.Thread(target=self_inner.loop, daemon=True)
                self_inner.t.start()

            def loop(self_inner):
                while server._sampling:
                    server.peak = max(server.peak, server.rss())
                    time.sleep(0.2)

            def __exit__(self_inner, *exc):
                server._sampling = False
                self_inner.t.join()
                server.peak = max(server.peak, server.rss())

        return _Sampler()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own group, started by us
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


# ---- load ------------------------------------------------------------------------------------

@dataclass
class Cell:
    target: str
    stream: bool
    concurrency: int
    n: int = 0
    errors: int = 0
    wall_s: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    ttft_p99_ms: float | None = None
    overhead_p50_ms: float | None = None
    overhead_p99_ms: float | None = None
    models_answered: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None


async def one(client: httpx.AsyncClient, url: str, body: dict, stream: bool) -> tuple[float, float | None, str | None]:
    """(latency s, ttft s or None, answering model from x-v0-model or the body)."""
    t0 = time.perf_counter()
    if not stream:
        r = await client.post(url, json=body)
        r.raise_for_status()
        data = r.json()
        return time.perf_counter() - t0, None, r.headers.get("x-v0-model") or data.get("model")
    ttft = None
    async with client.stream("POST", url, json={**body, "stream": True}) as r:
        r.raise_for_status()
        model = r.headers.get("x-v0-model")
        done = False
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            if ttft is None:
                chunk = json.loads(payload)
                if "error" in chunk:
                    raise RuntimeError(f"error event: {chunk['error']}")
                if any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                    ttft = time.perf_counter() - t0
                    model = model or chunk.get("model")
        if not done:
            raise RuntimeError("stream ended without [DONE]")
    return time.perf_counter() - t0, ttft, model


async def run_cell(target: str, base: str, model: str, stream: bool, concurrency: int, n: int, warmup: int, max_s: float) -> Cell:
    url = base.rstrip("/") + "/chat/completions"
    body = {**BODY, "model": model}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    cell = Cell(target, stream, concurrency)
    lat: list[float] = []
    ttft: list[float] = []
    async with httpx.AsyncClient(timeout=60.0, limits=limits, headers={"Authorization": f"Bearer {KEY}"}) as client:
        for _ in range(warmup):
            try:
                await one(client, url, body, stream)
            except Exception as exc:
                cell.first_error = cell.first_error or f"warmup: {type(exc).__name__}: {exc}"
        issued = 0
        t0 = time.perf_counter()
        deadline = t0 + max_s

        async def worker():
            nonlocal issued
            while issued < n and time.perf_counter() < deadline:
                issued += 1
                try:
                    l, f, m = await one(client, url, body, stream)
                    lat.append(l)
                    if f is not None:
                        ttft.append(f)
                    cell.models_answered[str(m)] = cell.models_answered.get(str(m), 0) + 1
                except Exception as exc:
                    cell.errors += 1
                    cell.first_error = cell.first_error or f"{type(exc).__name__}: {exc}"

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cell.wall_s = time.perf_counter() - t0
    cell.n = len(lat)
    cell.rps = cell.n / cell.wall_s if cell.wall_s > 0 else 0.0
    if lat:
        cell.p50_ms, cell.p95_ms, cell.p99_ms = (float(x) * 1000 for x in np.percentile(lat, [50, 95, 99]))
    if ttft:
        cell.ttft_p50_ms, cell.ttft_p95_ms, cell.ttft_p99_ms = (float(x) * 1000 for x in np.percentile(ttft, [50, 95, 99]))
    return cell


# ---- the run ---------------------------------------------------------------------------------

def policies_yaml(upstream: str) -> str:
    lines = ["default_policy: bench", "candidates:"]
    for i in range(1, N_CANDIDATES + 1):
        lines.append(f"  bench-c{i}: {{model: openai/bench-c{i}, api_base: {upstream}, api_key_env: BENCH_UPSTREAM_KEY, "
                     f"input_price: {0.1 * i:.2f}, output_price: {0.4 * i:.2f}, num_retries: 0}}")
    names = ", ".join(f"bench-c{i}" for i in range(1, N_CANDIDATES + 1))
    lines += ["policies:", f"  bench: {{candidates: [{names}], threshold: 0.7, fallback: bench-c{N_CANDIDATES}, profile_size: 256}}"]
    return "\n".join(lines) + "\n"


def litellm_config(upstream: str) -> str:
    return (
        "model_list:\n"
        "  - model_name: bench-c1\n"
        "    litellm_params: {model: openai/bench-c1, api_base: " + upstream + ", api_key: sk-upstream}\n"
        "litellm_settings: {drop_params: true, num_retries: 0, telemetry: false}\n"
        "general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}\n"
    )


def prepare_routed(base: str, profiles_dir: str | None) -> str:
    """Give the 5 candidates 256-row profiles through the gateway's admin API.
    Returns a note saying what scores the routed requests."""
    sys.path.insert(0, str(HERE))
    from profiles import upload_profiles  # bench/overhead/profiles.py

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
    a = ap.parse_args(argv)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="v0-overhead-"))
    py = sys.executable
    bin_dir = Path(py).parent
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
    servers: list[Server] = []
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
                     "servers": {}, "cells": [], "notes": []}
    concurrencies = [int(c) for c in a.concurrency.split(",")]
    try:
        up_port = free_port()
        upstream = Server("upstream", [py, str(HERE / "upstream.py"), "--port", str(up_port)], env,
                          f"http://127.0.0.1:{up_port}/health", work / "upstream.log")
        servers.append(upstream)
        up_base = f"http://127.0.0.1:{up_port}/v1"
        targets: list[tuple[str, str, str, Server | None]] = [("direct", up_base, "bench-c1", None)]

        if not a.skip_litellm:
            cfg = work / "litellm.yaml"
            cfg.write_text(litellm_config(up_base))
            port = free_port()
            litellm_bin = shutil.which("litellm", path=str(bin_dir)) or "litellm"
            try:
                px = Server("litellm-proxy", [litellm_bin, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                            {**env, "LITELLM_MASTER_KEY": KEY, "LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true"},
                            f"http://127.0.0.1:{port}/health/liveliness", work / "litellm.log")
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
        gw = Server("gateway", [py, "-m", "router.cli", "serve", "--port", str(port), "--log-level", "warning"], genv,
                    f"http://127.0.0.1:{port}/healthz", work / "gateway.log")
        servers.append(gw)
        gbase = f"http://127.0.0.1:{port}/v1"
        targets.append(("gateway-plain", gbase, "bench-c1", gw))
        if a.routed:
            results["routed_scorer"] = prepare_routed(f"http://127.0.0.1:{port}", a.profiles)
            targets.append(("gateway-routed", gbase, "router/bench", gw))

        for s in servers:
            results["servers"][s.name] = {"start_s": round(s.start_s, 2), "rss_idle_mib": round(s.rss(), 1)}

        for stream in (False, True):
            for conc in concurrencies:
                n = a.requests_1 if conc == 1 else a.requests_32
                base_cell = None
                for name, base, model, srv in targets:
                    if srv is not None:
                        with srv.sample_peak():
                            cell = asyncio.run(run_cell(name, base, model, stream, conc, n, a.warmup, a.max_seconds))
                    else:
                        cell = asyncio.run(run_cell(name, base, model, stream, conc, n, a.warmup, a.max_seconds))
                    if name == "direct":
                        base_cell = cell
                    elif base_cell and cell.p50_ms is not None and base_cell.p50_ms is not None:
                        cell.overhead_p50_ms = cell.p50_ms - base_cell.p50_ms
                        cell.overhead_p99_ms = cell.p99_ms - base_cell.p99_ms
                    results["cells"].append(asdict(cell))
                    print(f"{name:15s} stream={stream!s:5s} c={conc:<3d} n={cell.n:<4d} err={cell.errors:<3d} "
                          f"p50={cell.p50_ms or 0:7.1f}ms p99={cell.p99_ms or 0:7.1f}ms rps={cell.rps:7.1f}"
                          + (f" ttft50={cell.ttft_p50_ms:6.1f}ms" if cell.ttft_p50_ms else ""), flush=True)
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


def ratios(cells: list[dict]) -> dict:
    """Gateway vs LiteLLM proxy, same cell: overhead ratios (p50) and throughput ratios."""
    by = {(c["target"], c["stream"], c["concurrency"]): c for c in cells}
    out = {}
    for (target, stream, conc), c in by.items():
        if not target.startswith("gateway"):
            continue
        lp = by.get(("litellm-proxy", stream, conc))
        if not lp or c["overhead_p50_ms"] is None or lp["overhead_p50_ms"] in (None, 0):
            continue
        key = f"{target} {'stream' if stream else 'json'} c={conc}"
        out[key] = {
            "overhead_p50_ratio_vs_litellm": c["overhead_p50_ms"] / lp["overhead_p50_ms"],
            "rps_ratio_vs_litellm": c["rps"] / lp["rps"] if lp["rps"] else None,
        }
    return out


def markdown(results: dict) -> str:
    rows = ["| target | stream | conc | n | err | p50 ms | p95 ms | p99 ms | TTFT p50 ms | req/s | overhead p50 ms |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    f = lambda v, d=1: "—" if v is None else f"{v:.{d}f}"  # noqa: E731
    for c in results["cells"]:
        rows.append(f"| {c['target']} | {'yes' if c['stream'] else 'no'} | {c['concurrency']} | {c['n']} | {c['errors']} | "
                    f"{f(c['p50_ms'])} | {f(c['p95_ms'])} | {f(c['p99_ms'])} | {f(c['ttft_p50_ms'])} | {f(c['rps'])} | {f(c['overhead_p50_ms'])} |")
    rows += ["", "| server | start s | RSS idle MiB | RSS peak MiB |", "|---|---:|---:|---:|"]
    for name, s in results["servers"].items():
        rows.append(f"| {name} | {s['start_s']} | {s['rss_idle_mib']} | {s.get('rss_peak_mib', '—')} |")
    if results.get("ratios"):
        rows += ["", "| gateway cell | overhead p50 / LiteLLM's | req/s / LiteLLM's |", "|---|---:|---:|"]
        for k, r in results["ratios"].items():
            rows.append(f"| {k} | {f(r['overhead_p50_ratio_vs_litellm'], 2)} | {f(r['rps_ratio_vs_litellm'], 2)} |")
    if results.get("routed_scorer"):
        rows += ["", f"Routed requests scored by: {results['routed_scorer']}"]
    rows += [f"Note: {n}" for n in results.get("notes", [])]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
