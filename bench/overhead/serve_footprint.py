"""Start time and idle memory of `v0-gateway serve` with the V0 scorer (issue 11: serve without
torch). Each run starts ``python -m router.cli serve`` from ``--repo`` (default: this checkout)
on a fresh migrated SQLite database and the repository's policies.yaml; the first start seeds the
default profiles and encodes them (features stored in the database) and is not counted; the
next ``--runs`` starts are timed to /readyz and their resident memory (with children) read
``--idle`` seconds after. Prints one JSON line per run and the medians.

    python -m bench.overhead.serve_footprint --runs 3
    python -m bench.overhead.serve_footprint --repo OTHER_CHECKOUT   # e.g. the commit before
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.loopback import free_port
from bench.overhead.servers import REPO, tree_rss_mib

ADMIN = "footprint-admin"


def start_once(repo: Path, db: str, idle: float, log: Path) -> dict:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(repo), "V0_DATABASE_URL": db, "V0_POLICIES": str(repo / "policies.yaml"),
           "V0_SCORER": "v0", "V0_ADMIN_KEY": ADMIN, "V0_STATE_DIR": str(log.parent / "state"),
           "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "router.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            env=env, cwd=repo, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("serve not ready after 300 s")
            time.sleep(0.05)
        start_s = time.perf_counter() - t0
        time.sleep(idle)
        rss = tree_rss_mib(proc.pid)
        status = httpx.get(f"http://127.0.0.1:{port}/admin/status", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        return {"start_s": round(start_s, 2), "idle_rss_mib": round(rss, 1),
                "torch_loaded": status.get("process", {}).get("torch_loaded")}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own group, started here
        proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose router/valuemodel are started")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds after ready before reading RSS")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'v0.db'}"
        subprocess.run([sys.executable, "-m", "router.cli", "migrate"], cwd=repo, check=True,
                       env={**os.environ, "PYTHONPATH": str(repo), "V0_DATABASE_URL": db}, capture_output=True)
        log = Path(tmp) / "serve.log"
        warm = start_once(repo, db, 1.0, log)
        print(json.dumps({"run": "first (seeds, encodes; not counted)", **warm}), flush=True)
        runs = [start_once(repo, db, args.idle, log) for _ in range(args.runs)]
        for i, r in enumerate(runs):
            print(json.dumps({"run": i + 1, **r}), flush=True)
        print(json.dumps({"median_start_s": statistics.median(r["start_s"] for r in runs),
                          "median_idle_rss_mib": statistics.median(r["idle_rss_mib"] for r in runs)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
