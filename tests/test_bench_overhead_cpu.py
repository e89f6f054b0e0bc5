"""The overhead bench's CPU column: a process tree's CPU time grows with its work, and the
report puts each gateway cell's CPU per request beside LiteLLM proxy's."""

import os
import subprocess
import sys

import pytest

from bench.overhead.report import markdown, ratios
from bench.overhead.servers import tree_cpu_s


# The child spins for a fixed amount of its own CPU time (not wall time), between two
# handshakes, so the figure does not depend on how busy the machine is.
SPIN_CHILD = """import sys, time
print("ready", flush=True)
sys.stdin.readline()
t = time.process_time()
while time.process_time() - t < 0.5:
    pass
print("done", flush=True)
time.sleep(30)
"""


def test_tree_cpu_counts_a_busy_child():
    child = subprocess.Popen([sys.executable, "-c", SPIN_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        before = tree_cpu_s(os.getpid())
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"  # the child has used 0.5 s of CPU since "go"
        spent = tree_cpu_s(os.getpid()) - before
        assert 0.49 <= spent < 1.0  # 0.01: one clock tick of /proc's accounting
    finally:
        child.kill()
        child.wait()


def test_report_has_cpu_per_request_ratio():
    cell = dict(stream=False, concurrency=1, n=10, errors=0, p50_ms=5.0, p95_ms=6.0, p99_ms=7.0, ttft_p50_ms=None,
                rps=100.0)
    cells = [{**cell, "target": "litellm-proxy", "overhead_p50_ms": 4.0, "cpu_ms_per_request": 20.0},
             {**cell, "target": "gateway-routed", "p50_ms": 6.0, "overhead_p50_ms": 2.0, "cpu_ms_per_request": 15.0},
             {**cell, "target": "direct", "overhead_p50_ms": None, "cpu_ms_per_request": None}]
    r = ratios(cells)
    assert r["gateway-routed json c=1"]["cpu_per_request_ratio_vs_litellm"] == 0.75
    assert r["gateway-routed json c=1"]["p50_ratio_vs_litellm"] == pytest.approx(1.2)
    text = markdown({"cells": cells, "servers": {}, "ratios": r})
    assert "| gateway-routed json c=1 | 1.20 | 0.50 | 1.00 | 0.75 |" in text
