"""`v0-gateway serve --workers 2` as a real process tree: both workers answer, every answered
request's row is written, SIGTERM drains requests in flight, and after a kill -9 of the whole
process group a restart replays every spooled row."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.faults.gateway_process import GatewayProcess, policies_yaml
from gateway_support import count_decisions, wait_until

ADMIN_KEY = "admin-secret"


def write_policies(tmp_path: Path, upstream_base: str) -> None:
    slow = (f"  slow:\n    model: openai/fake-slow\n    api_base: {upstream_base}\n    input_price: 1.0\n"
            "    output_price: 1.0\n    timeout: 10\n    num_retries: 0\n")
    (tmp_path / "policies.yaml").write_text(policies_yaml(upstream_base).replace("policies:\n", slow + "policies:\n"))


def answering_pids(gateway: GatewayProcess, want: int, tries: int = 200) -> set[int]:
    def pid(_: int) -> int:
        r = httpx.get(gateway.base_url + "/admin/status", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert r.status_code == 200
        return int(r.json()["process"]["pid"])

    seen: set[int] = set()
    with ThreadPoolExecutor(8) as pool:
        for _ in range(tries // 20):
            seen |= set(pool.map(pid, range(20)))  # a new connection each: the kernel picks a worker
            if len(seen) >= want:
                break
    return seen


def chat_all(gateway: GatewayProcess, n: int, prefix: str, model: str = "ok") -> list[int]:
    with ThreadPoolExecutor(8) as pool:
        return [r.status_code for r in pool.map(lambda i: gateway.chat(f"{prefix}{i}", model), range(n))]


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_two_workers_answer_log_every_row_and_drain_on_sigterm(proxied_pg, tmp_path, upstream):
    direct, _, _ = proxied_pg
    write_policies(tmp_path, upstream.base_url)
    gateway = GatewayProcess(tmp_path, direct, upstream.base_url, workers=2, V0_ADMIN_KEY=ADMIN_KEY,
                             V0_LOG_CLOSE_TIMEOUT_S="10").start()
    try:
        pids = answering_pids(gateway, want=2)
        assert gateway.proc is not None and gateway.proc.pid not in pids
        assert len(pids) == 2
        assert chat_all(gateway, 60, "q") == [200] * 60
        wait_until(lambda: count_decisions(direct) == 60)
        slots = tmp_path / "state"
        assert sorted(p.name for p in slots.glob("*/spool/*") if p.is_dir()) == ["0", "1"]
        with ThreadPoolExecutor(4) as pool:  # 3 s each upstream: in flight when SIGTERM arrives
            slow = [pool.submit(gateway.chat, f"s{i}", "slow") for i in range(4)]
            time.sleep(1.0)
            gateway.proc.send_signal(signal.SIGTERM)
            assert [f.result().status_code for f in slow] == [200] * 4
        assert gateway.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        gateway.stop()
    assert count_decisions(direct) == 64
    assert list(slots.rglob("decisions-*.jsonl")) == []  # every worker's spool emptied


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_kill_9_of_the_process_group_then_restart_replays_every_spooled_row(proxied_pg, tmp_path, upstream):
    direct, via_proxy, proxy = proxied_pg
    gateway = GatewayProcess(tmp_path, via_proxy, upstream.base_url, workers=2, V0_ADMIN_KEY=ADMIN_KEY)
    try:
        gateway.start()
        assert len(answering_pids(gateway, want=2)) == 2
        assert chat_all(gateway, 10, "a") == [200] * 10
        wait_until(lambda: count_decisions(direct) == 10)
        proxy.set_mode("refuse")
        assert chat_all(gateway, 40, "b") == [200] * 40
        spooled = tmp_path / "state"
        assert len({p.parent.name for p in spooled.rglob("decisions-*.jsonl")}) == 2  # both workers' slots
        gateway.kill_group()  # kill -9, 40 answered rows unwritten
        assert count_decisions(direct) == 10
        proxy.set_mode("pass")
        gateway.start()
        wait_until(lambda: count_decisions(direct) == 50, timeout=30)
        wait_until(lambda: list(spooled.rglob("decisions-*.jsonl")) == [], timeout=10)
    finally:
        gateway.stop()


def scrape(gateway: GatewayProcess) -> tuple[float, list[float]]:
    """(sum of v0_requests_total, v0_decision_log_written samples) from one scrape."""
    lines = httpx.get(gateway.base_url + "/metrics").text.splitlines()  # a new connection: any worker
    requests = sum(float(ln.split()[-1]) for ln in lines if ln.startswith("v0_requests_total{"))
    return requests, [float(ln.split()[-1]) for ln in lines if ln.startswith("v0_decision_log_written")]


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_every_scrape_reports_both_workers(proxied_pg, tmp_path, upstream):
    direct, _, _ = proxied_pg
    write_policies(tmp_path, upstream.base_url)
    gateway = GatewayProcess(tmp_path, direct, upstream.base_url, workers=2, V0_ADMIN_KEY=ADMIN_KEY).start()
    try:
        assert len(answering_pids(gateway, want=2)) == 2
        assert chat_all(gateway, 40, "m") == [200] * 40
        # counters at once, the writers' gauges once flushed and published: from whichever worker
        wait_until(lambda: all(scrape(gateway) == (40.0, [40.0]) for _ in range(12)))
    finally:
        gateway.stop()
