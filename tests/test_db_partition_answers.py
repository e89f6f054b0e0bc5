"""During a database partition (PostgreSQL black-holed behind the fault proxy), feedback and admin
calls answer 503 ``database_unavailable`` (or ``decision_pending``) within their deadline, never a
500 and never a hung connection."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway_support import start_gateway, wait_for_decision, wait_until

ADMIN = {"Authorization": "Bearer adm"}


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_feedback_and_admin_answer_503_during_a_partition(proxied_pg, serve_app, tmp_path, upstream):
    direct, via_proxy, proxy = proxied_pg
    served = start_gateway(serve_app, tmp_path, via_proxy, upstream.base_url, admin_key="adm", db_timeout_s=1.0,
                           profile_poll_s=0.2, log_retry_max_s=0.5)
    r = httpx.post(served.base_url + "/v1/chat/completions", timeout=30,
                   json={"model": "auto", "messages": [{"role": "user", "content": "hello"}]})
    decision_id = r.headers["x-v0-decision-id"]
    wait_for_decision(direct, decision_id)
    proxy.set_mode("blackhole")
    calls = [("POST", "/v1/feedback", {"decision_id": decision_id, "score": 1.0}, {}),
             ("GET", "/admin/keys", None, ADMIN), ("GET", "/admin/stats", None, ADMIN),
             ("GET", "/admin/decisions", None, ADMIN), ("GET", "/admin/profiles/ok", None, ADMIN),
             ("POST", "/admin/replay", {"policy": "balanced"}, ADMIN)]

    def call(i: int) -> tuple[str, int, str]:
        method, path, body, headers = calls[i % len(calls)]
        r = httpx.request(method, served.base_url + path, json=body, headers=headers, timeout=60)
        return path, r.status_code, r.json()["error"]["code"]

    try:
        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(call, range(5 * len(calls))))
    finally:
        proxy.set_mode("pass")
    assert {(path, status) for path, status, _ in answers} == {(path, 503) for _, path, _, _ in calls}
    assert {code for *_, code in answers} == {"database_unavailable"}
    wait_until(lambda: httpx.get(served.base_url + "/admin/keys", headers=ADMIN, timeout=30).status_code == 200,
               timeout=30)
