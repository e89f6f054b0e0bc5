"""Small defects that used to be 500s or wrong rows: extreme dates in /admin/stats and
/admin/replay are a 400; an upstream's huge token count is saved (saturated) instead of
quarantining the row while the client got its 200."""

from __future__ import annotations

import httpx
import pytest

from bench.loopback import COMPLETION_TOKENS
from gateway_support import wait_for_decision, start_gateway

ADMIN = {"Authorization": "Bearer adm"}


def huge_policies(base: str) -> str:
    return ("default_policy: p\ncandidates:\n"
            f"  huge:\n    model: openai/fake-huge\n    api_base: {base}\n    input_price: 1\n    output_price: 1\n"
            "    num_retries: 0\npolicies:\n  p:\n    candidates: [huge]\n    threshold: 0.5\n    fallback: huge\n")


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url, admin_key="adm",
                         policies_text=huge_policies(upstream.base_url), scores={"huge": 0.9})


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00",
                                   "9999-12-31T23:59:59", "1969-12-31T23:59:59Z"])
def test_extreme_dates_are_a_400(gateway, value):
    for param in ("since", "until"):
        r = httpx.get(gateway.base_url + "/admin/stats", params={param: value}, headers=ADMIN, timeout=30)
        assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["param"]) == (400, "invalid_value", param)
        r = httpx.post(gateway.base_url + "/admin/replay", json={"policy": "p", param: value}, headers=ADMIN, timeout=30)
        assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["param"]) == (400, "invalid_value", param)


def test_a_huge_upstream_token_count_is_saved_saturated(gateway, database_url):
    r = httpx.post(gateway.base_url + "/v1/chat/completions", timeout=30,
                   json={"model": "huge", "messages": [{"role": "user", "content": "hi"}]})
    assert (r.status_code, r.json()["usage"]["prompt_tokens"]) == (200, 10**12)
    row = wait_for_decision(database_url, r.headers["x-v0-decision-id"])
    assert (row.status, row.prompt_tokens, row.completion_tokens) == ("ok", 2**31 - 1, COMPLETION_TOKENS)
    assert row.cost_usd == pytest.approx((10**12 + COMPLETION_TOKENS) / 1e6)
    assert gateway.app.state.writer.quarantined == 0
