"""The server processes of an overhead run: start one in its own process group, wait until it
answers, sample its resident memory (with its descendants), and stop it by its own group only."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def _tree(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, MiB."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def tree_cpu_s(pid: int) -> float:
    """CPU time (user + system, every thread) of a process and its live descendants, seconds."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        except (OSError, ValueError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


class Server:
    """A server process in its own process group, stopped by its own pid/group only.
    Started from the repository root; ready once ``ready_url`` answers below 500 (sent ``key``)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], ready_url: str, log: Path, key: str):
        self.name, self.ready_url, self.key = name, ready_url, key
        self.log = log.open("wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=str(REPO))
        self.start_s = self._wait_ready(t0)
        self.peak = 0.0

    def _wait_ready(self, t0: float, timeout: float = 120.0) -> float:
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.ready_url, timeout=1.0, headers={"Authorization": f"Bearer {self.key}"}).status_code < 500:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s; see {self.log.name}")

    def rss(self) -> float:
        return tree_rss_mib(self.proc.pid)

    def cpu_s(self) -> float:
        return tree_cpu_s(self.proc.pid)

    @contextmanager
    def sample_peak(self) -> Iterator[None]:
        """Sample RSS every 0.2 s while the block runs; keeps the max in ``self.peak``."""
        sampling = threading.Event()

        def loop() -> None:
            while not sampling.is_set():
                self.peak = max(self.peak, self.rss())
                time.sleep(0.2)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            sampling.set()
            thread.join()
            self.peak = max(self.peak, self.rss())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own group, started by us
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
