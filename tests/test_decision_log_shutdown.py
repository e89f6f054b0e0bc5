"""Rows of answered requests survive a shutdown during a database outage and a crash.

The gateway runs as a real uvicorn process; PostgreSQL sits behind a fault proxy."""

from __future__ import annotations

import signal
import time

import pytest

from gateway_support import count_decisions, wait_until
from bench.faults.gateway_process import GatewayProcess


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_sigterm_during_outage_keeps_retrying_until_the_deadline(proxied_pg, tmp_path, upstream):
    direct, via_proxy, proxy = proxied_pg
    gateway = GatewayProcess(tmp_path, via_proxy, upstream.base_url, V0_LOG_CLOSE_TIMEOUT_S="20").start()
    try:
        proxy.set_mode("refuse")
        answered = [gateway.chat(f"q{i}") for i in range(40)]
        assert [r.status_code for r in answered] == [200] * 40
        assert gateway.proc is not None
        gateway.proc.send_signal(signal.SIGTERM)
        time.sleep(2)  # the gateway is closing; the database is still away
        assert gateway.proc.poll() is None  # it did not give up after its first failed flush
        proxy.set_mode("pass")
        assert gateway.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    finally:
        gateway.stop()
    assert count_decisions(direct) == 40
    assert list((tmp_path / "state").rglob("decisions-*.jsonl")) == []  # spool emptied


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_rows_beyond_the_deadline_and_after_kill_9_are_replayed_at_start(proxied_pg, tmp_path, upstream):
    direct, via_proxy, proxy = proxied_pg
    gateway = GatewayProcess(tmp_path, via_proxy, upstream.base_url, V0_LOG_CLOSE_TIMEOUT_S="1")
    try:
        gateway.start()
        first = [gateway.chat(f"a{i}") for i in range(10)]
        wait_until(lambda: count_decisions(direct) == 10)
        proxy.set_mode("refuse")
        second = [gateway.chat(f"b{i}") for i in range(30)]
        assert gateway.proc is not None
        gateway.proc.send_signal(signal.SIGTERM)  # the deadline passes with the database away
        assert gateway.wait(timeout=15) in (0, -signal.SIGTERM)
        gateway.start()  # database still away: the replayed rows wait in memory and on disk
        third = [gateway.chat(f"c{i}") for i in range(30)]
        assert gateway.proc is not None
        gateway.proc.kill()  # kill -9 with 60 answered requests unwritten
        gateway.wait(timeout=10)
        assert [r.status_code for r in first + second + third] == [200] * 70
        assert count_decisions(direct) == 10
        proxy.set_mode("pass")
        gateway.start()
        wait_until(lambda: count_decisions(direct) == 70, timeout=20)
    finally:
        gateway.stop()
