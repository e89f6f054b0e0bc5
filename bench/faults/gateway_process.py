"""The gateway as a real process (``python -m router.cli serve``), for signal and crash tests.

It runs in a session of its own, so that ``kill_group`` (and ``stop``) reach every process of a
``--workers N`` gateway at once, as a container runtime or an OOM kill of the whole unit would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
CLIENT_KEY = "static-key"  # a V0_CLIENT_KEYS key: accepted even while the database is away


def policies_yaml(upstream_base: str) -> str:
    """Two loopback candidates: "ok" (cheap) and "strong"; policy "balanced" routes between them."""
    def cand(price: float) -> str:
        return (f"    model: openai/fake-ok\n    api_base: {upstream_base}\n    input_price: {price}\n"
                f"    output_price: {price}\n    timeout: 5\n    num_retries: 0\n")

    return (f"default_policy: balanced\ncandidates:\n  ok:\n{cand(1.0)}  strong:\n{cand(10.0)}policies:\n"
            "  balanced:\n    candidates: [ok, strong]\n    threshold: 0.7\n    fallback: strong\n")


class GatewayProcess:
    def __init__(self, tmp_path: Path, database_url: str, upstream_base: str, *, workers: int = 1,
                 **env: str) -> None:
        policies = tmp_path / "policies.yaml"
        if not policies.exists():
            policies.write_text(policies_yaml(upstream_base))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"gateway-{self.port}.log"
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "V0_DATABASE_URL": database_url,
                    "V0_POLICIES": str(policies), "V0_SCORER": "stand-in", "V0_SEED_PROFILES": "false",
                    "V0_POLICY_RELOAD_S": "0", "V0_LOG_FLUSH_S": "0.05", "V0_LOG_RETRY_MAX_S": "0.2",
                    "V0_STATE_DIR": str(tmp_path / "state"), "V0_CLIENT_KEYS": CLIENT_KEY, **env}
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> "GatewayProcess":
        self.proc = subprocess.Popen([sys.executable, "-m", "router.cli", "serve", "--port", str(self.port),
                                      "--workers", str(self.workers), "--log-level", "warning"],
                                     env=self.env, cwd=REPO, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway did not start")

    def chat(self, text: str = "hello", model: str = "ok") -> httpx.Response:
        return httpx.post(self.base_url + "/v1/chat/completions", timeout=10,
                          headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                          json={"model": model, "messages": [{"role": "user", "content": text}]})

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill_group(self) -> None:
        """``kill -9`` of the gateway and all its workers."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            self.kill_group()  # also reaps workers left by a parent that already exited
