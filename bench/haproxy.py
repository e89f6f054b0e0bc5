"""Debian's HAProxy in front of gateway replicas on loopback (bench/replicas.py): round robin,
health checks on ``GET /readyz`` (every 500 ms, each check allowed 5 s, so a replica busy with
load is not taken out; down after 2 failures, which a killed replica's refused connection gives
at once), a request whose connection to a replica failed sent to another one (``retry-on
conn-failure``, ``option redispatch``: a request that reached a replica is never sent twice), an
``x-served-by`` response header naming the replica, and the admin socket for statistics and
drains."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from bench.loopback import free_port

HAPROXY_CFG = """global
  maxconn 4096
  stats socket {socket} mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout check 5s
  retries 3
  option redispatch 1
  retry-on conn-failure
frontend gateway
  bind 127.0.0.1:{port}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk
  http-check send meth GET uri /readyz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1
  http-response set-header x-served-by %s
{servers}
"""


class HAProxy:
    """Debian's haproxy in the foreground, with an admin socket for its statistics."""

    def __init__(self, workdir: Path, backends: dict[str, int]) -> None:
        self.port = free_port()
        self.socket = workdir / "haproxy.sock"
        servers = "\n".join(f"  server {name} 127.0.0.1:{port} check" for name, port in backends.items())
        self.cfg = workdir / "haproxy.cfg"
        self.cfg.write_text(HAPROXY_CFG.format(socket=self.socket, port=self.port, servers=servers))
        self.log = (workdir / "haproxy.log").open("wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.cfg)], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket))
            s.sendall(line.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode()

    def stats(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.command("show stat").lstrip("# "))))

    def drain(self, server: str, timeout: float = 60) -> None:
        """No new requests to ``server``; returns once its requests in flight have finished."""
        self.command(f"set server replicas/{server} state drain")
        deadline = time.monotonic() + timeout
        while next(r for r in self.stats() if r["svname"] == server)["scur"] != "0":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server} still has requests in flight")
            time.sleep(0.05)

    def up(self) -> set[str]:
        try:
            return {r["svname"] for r in self.stats() if r["pxname"] == "replicas" and r["status"] == "UP"}
        except OSError:  # not listening on its socket yet
            return set()

    def wait_up(self, names: set[str], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not names <= self.up():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"haproxy: {names - self.up()} not up")
            time.sleep(0.1)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)
        self.log.close()
