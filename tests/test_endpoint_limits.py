"""Every endpoint a client key calls counts against its limits: /v1/route, /v1/score,
/v1/allocate, /v1/select and /v1/feedback, like chat completions, are refused with 429 past a key's rpm,
before any work."""

from __future__ import annotations

import httpx
import pytest

from gateway_support import start_gateway
from test_key_limits import create_key

HELLO = [{"role": "user", "content": "hello"}]
CALLS = {
    "/v1/route": {"model": "auto", "messages": HELLO},
    "/v1/score": {"profile": [{"prompt": "a", "score": 1}], "prompts": ["b"]},
    "/v1/allocate": {"profile": [{"prompt": "a", "score": 1}], "prompts": ["b"], "total_budget": 4},
    "/v1/select": {"profile": [{"prompt": "a", "score": 1}], "pool": [{"id": "1", "prompt": "b"}], "batch_size": 1},
    "/v1/feedback": {"decision_id": "0" * 32, "score": 1},
}


@pytest.fixture
def gateway(serve_app, tmp_path, fresh_database, upstream):  # keys created here: a database of its own
    return start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, admin_key="adm")


@pytest.mark.parametrize("path", list(CALLS))
def test_v0_endpoints_are_under_the_key_limits(gateway, path):
    _, key = create_key(gateway, rpm=2)
    codes = [httpx.post(gateway.base_url + path, json=CALLS[path], headers={"Authorization": f"Bearer {key}"},
                        timeout=30) for _ in range(3)]
    first = {"/v1/route": 200, "/v1/score": 503, "/v1/allocate": 503, "/v1/select": 503, "/v1/feedback": 404}[path]
    assert [r.status_code for r in codes] == [first, first, 429]
    assert (codes[2].json()["error"]["code"], codes[2].json()["error"]["type"]) == ("rate_limit_exceeded", "requests")
