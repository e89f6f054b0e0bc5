"""The overhead bench's CPU column: a process tree's CPU time grows with its work, and the
report puts each gateway cell's CPU per request beside LiteLLM proxy's."""

import os
import subprocess
import sys
import time

from bench.overhead.report import markdown, ratios
from bench.overhead.servers import tree_cpu_s


def test_tree_cpu_counts_a_busy_child():
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 0.6: pass\n"
                              "time.sleep(30)"])
    try:
        before = tree_cpu_s(os.getpid())
        time.sleep(1.0)  # the child spins for 0.6 s of it, then sleeps
        spent = tree_cpu_s(os.getpid()) - before
        assert 0.3 < spent < 1.5
    finally:
        child.kill()
        child.wait()


def test_report_has_cpu_per_request_ratio():
    cell = dict(stream=False, concurrency=1, n=10, errors=0, p50_ms=5.0, p95_ms=6.0, p99_ms=7.0, ttft_p50_ms=None,
                rps=100.0)
    cells = [{**cell, "target": "litellm-proxy", "overhead_p50_ms": 4.0, "cpu_ms_per_request": 20.0},
             {**cell, "target": "gateway-routed", "overhead_p50_ms": 2.0, "cpu_ms_per_request": 15.0},
             {**cell, "target": "direct", "overhead_p50_ms": None, "cpu_ms_per_request": None}]
    r = ratios(cells)
    assert r["gateway-routed json c=1"]["cpu_per_request_ratio_vs_litellm"] == 0.75
    text = markdown({"cells": cells, "servers": {}, "ratios": r})
    assert "| gateway-routed json c=1 | 0.50 | 1.00 | 0.75 |" in text
