"""The container image, run for real (what `make image-test` runs after building it).

For SQLite (the default, in the /data volume) and for the host's PostgreSQL (a fresh database),
each on an empty database: start the container on the host network with the repository's
policies.yaml and NVIDIA_NIM_API_BASE pointing at a loopback upstream; wait for /readyz; send a
routed chat completion with the OpenAI SDK; find its decision row; stop the container and start
a new one on the same /data volume, which must find the row and the seeded profiles again and
serve. Also: no torch in the image, a non-root user, the HEALTHCHECK reporting healthy. Prints
the image size, the first-start and restart times to /readyz, and /readyz's own latency.

    python -m scripts.image_check --image v0-gateway:ci [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai

from bench.loopback import LoopbackUpstream, free_port

ADMIN_KEY = "image-check-admin"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def docker(*args: str, check: bool = True, timeout: float = 300) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}...: {out.stderr.strip()[-2000:]}")
    return out.stdout.strip()


class Container:
    """One gateway container on the host network, on port ``port``, with the volume ``volume``."""

    def __init__(self, image: str, volume: str, port: int, env: dict[str, str]) -> None:
        self.image, self.volume, self.port, self.env = image, volume, port, env
        self.name = ""
        self.base_url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 120) -> float:
        """Seconds from `docker run` to /readyz answering 200."""
        self.name = f"v0-image-check-{uuid.uuid4().hex[:8]}"
        env = [a for k, v in {**self.env, "V0_PORT": str(self.port)}.items() for a in ("-e", f"{k}={v}")]
        t0 = time.perf_counter()
        docker("run", "-d", "--name", self.name, "--network", "host", "-v", f"{self.volume}:/data", *env, self.image)
        while time.perf_counter() - t0 < timeout:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            if docker("inspect", "-f", "{{.State.Running}}", self.name) != "true":
                break
            time.sleep(0.1)
        raise RuntimeError(f"container not ready:\n{self.logs()}")

    def cpu_s(self) -> float:
        """CPU time the container has used so far (every process, the finished migration too)."""
        v1 = docker("exec", self.name, "cat", "/sys/fs/cgroup/cpuacct/cpuacct.usage", check=False)  # ns
        if v1.isdigit():
            return int(v1) / 1e9
        v2 = docker("exec", self.name, "sed", "-n", "s/^usage_usec //p", "/sys/fs/cgroup/cpu.stat")  # us
        return int(v2) / 1e6

    def logs(self) -> str:
        out = subprocess.run(["docker", "logs", "--tail", "60", self.name], capture_output=True, text=True)
        return out.stdout + out.stderr

    def healthy(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if docker("inspect", "-f", "{{.State.Health.Status}}", self.name) == "healthy":
                return True
            time.sleep(1)
        return False

    def stop(self) -> None:
        if self.name:
            docker("stop", "-t", "20", self.name, check=False)
            docker("rm", "-f", self.name, check=False)
            self.name = ""

    def admin(self, path: str) -> Any:
        r = httpx.get(self.base_url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
        r.raise_for_status()
        return r.json()


def routed_chat(c: Container) -> tuple[str, str]:
    """A routed chat completion through the gateway: (decision id, answering candidate)."""
    client = openai.OpenAI(base_url=c.base_url + "/v1", api_key="unused", max_retries=0, timeout=60)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: What is the capital of France?", completion
    assert raw.headers["x-v0-model"] == completion.model
    float(raw.headers["x-v0-p-success"])  # routed: V0 scored it
    return raw.headers["x-v0-decision-id"], completion.model


def decision_row(c: Container, decision_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in c.admin("/admin/decisions?limit=50") if r["id"] == decision_id]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"decision {decision_id} not written:\n{c.logs()}")


def readyz_ms(c: Container, n: int = 50) -> float:
    times = []
    with httpx.Client(base_url=c.base_url, timeout=5) as http:
        for _ in range(n):
            t = time.perf_counter()
            assert http.get("/readyz").status_code == 200
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    import psycopg

    name = f"v0_image_check_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_decision_count(url: str, decision_id: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute("SELECT count(*) FROM decision WHERE id = %s", (decision_id,)).fetchone()[0]


def run_case(image: str, kind: str, env: dict[str, str], database_url: str | None) -> dict[str, Any]:
    volume = f"v0-image-check-{uuid.uuid4().hex[:8]}"
    docker("volume", "create", volume)
    if database_url:
        env = {**env, "V0_DATABASE_URL": database_url}
    c = Container(image, volume, free_port(), env)
    try:
        first_s = c.start()
        first_cpu_s = c.cpu_s()
        assert c.healthy(), f"HEALTHCHECK never healthy:\n{c.logs()}"
        uid = docker("exec", c.name, "id", "-u")
        assert uid == "10001", uid
        decision_id, model = routed_chat(c)
        row = decision_row(c, decision_id)
        assert (row["status"], row["answered_model"], row["policy"]) == ("ok", model, "balanced"), row
        if database_url:
            assert pg_decision_count(database_url, decision_id) == 1
        profiles = c.admin("/admin/profiles")
        assert len(profiles) == 5 and all(p["version"] == 1 and p["rows"] == 256 for p in profiles), profiles
        ready_ms = readyz_ms(c)
        c.stop()
        restart_s = c.start()  # a new container on the same /data
        assert decision_row(c, decision_id)["id"] == decision_id
        assert c.admin("/admin/profiles") == profiles  # seeded once: not again
        routed_chat(c)
        return {"case": kind, "first_start_s": round(first_s, 1), "first_start_cpu_s": round(first_cpu_s, 1),
                "restart_s": round(restart_s, 1),
                "readyz_p50_ms": round(ready_ms, 2), "answered_by": model}
    finally:
        c.stop()
        docker("volume", "rm", "-f", volume, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="v0-gateway:ci")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)

    size_mb = int(docker("image", "inspect", "-f", "{{.Size}}", args.image)) / 1e6
    assert docker("image", "inspect", "-f", "{{.Config.User}}", args.image) == "10001"
    no_torch = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python", args.image, "-c",
                               "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"])
    assert no_torch.returncode == 0, "torch is installed in the image"

    results = []
    with LoopbackUpstream() as upstream:
        env = {"NVIDIA_NIM_API_KEY": "image-check", "NVIDIA_NIM_API_BASE": upstream.base_url,
               "V0_ADMIN_KEY": ADMIN_KEY}
        results.append(run_case(args.image, "sqlite", env, None))
        if not args.skip_postgres:
            with pg_database() as url:
                results.append(run_case(args.image, "postgresql", env, url))
    print(f"image {args.image}: {size_mb:.0f} MB, no torch, user 10001")
    print("| database | first start to /readyz (s) | its CPU time (s) | restart to /readyz (s) | /readyz p50 (ms) |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['case']} | {r['first_start_s']} | {r['first_start_cpu_s']} | {r['restart_s']} | "
              f"{r['readyz_p50_ms']} |")
    print(json.dumps({"image_mb": round(size_mb), "cases": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
