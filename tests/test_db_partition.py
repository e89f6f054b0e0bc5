"""A black-holed database (a partition) does not stall chat serving, /readyz or the log."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest
import sqlalchemy as sa

from bench.faults.proxy import FaultProxy
from gateway_support import count_decisions, engine_for, start_gateway, wait_until
from router.migrate import upgrade

# Admin calls during the partition. They must run on the database pool (router.store.executor.
# run_db): on asyncio's default pool they would also hold the threads that resolve the
# upstream's address for every chat request. 0 until api/admin_keys.py uses run_db; then 8
# (verified: with admin reads on their own pool this test passes with 8).
ADMIN_CALLS = 8
DB_TIMEOUT_S = 6.0


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_blackholed_database_does_not_stall_serving(empty_database, serve_app, tmp_path, upstream):
    upgrade(empty_database)
    url = sa.engine.make_url(empty_database)
    with FaultProxy(url.host, url.port or 5432) as proxy:
        via_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
        # A request that waited on the black-holed database would take at least DB_TIMEOUT_S; every
        # chat and probe must finish well before that (a bound that holds on a loaded machine too).
        served = start_gateway(serve_app, tmp_path, via_proxy, upstream.base_url, db_timeout_s=DB_TIMEOUT_S,
                               profile_poll_s=0.2, log_retry_max_s=0.5, admin_key="admin")
        body = {"model": "router/balanced", "messages": [{"role": "user", "content": "hello"}]}

        def chat() -> float:
            started = time.perf_counter()
            assert httpx.post(served.base_url + "/v1/chat/completions", json=body, timeout=30).status_code == 200
            return time.perf_counter() - started

        def readyz() -> float:
            started = time.perf_counter()
            assert httpx.get(served.base_url + "/readyz", timeout=30).status_code == 200
            return time.perf_counter() - started

        chat()
        wait_until(lambda: count_decisions(empty_database) == 1)
        proxy.set_mode("blackhole")
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            slow = [pool.submit(readyz) for _ in range(20)]  # probes, as an orchestrator sends them
            admin = [pool.submit(httpx.get, served.base_url + "/admin/keys", timeout=30,
                                 headers={"Authorization": "Bearer admin"}) for _ in range(ADMIN_CALLS)]
            chats = [pool.submit(chat) for _ in range(60)]
            chat_s = [f.result() for f in chats]
            ready_s = [f.result() for f in slow]
        assert max(chat_s) < DB_TIMEOUT_S / 2, sorted(chat_s)[-5:]
        assert max(ready_s) < DB_TIMEOUT_S / 2, sorted(ready_s)[-5:]
        wait_until(lambda: served.app.state.db_status.reachable is False, timeout=10)  # seen by the poll
        assert httpx.get(served.base_url + "/readyz").json()["decision_log"]["database"] == "unreachable"
        for f in admin:
            f.result()  # answered (an error envelope) rather than hung
        proxy.set_mode("pass")
        wait_until(lambda: count_decisions(empty_database) == 61, timeout=30)
    engine_for(empty_database).dispose()
