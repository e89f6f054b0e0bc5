"""An upstream's error text reaches clients and decision rows only scrubbed: the status and the
provider's error type stay, the operator's API keys, Authorization values and key-shaped tokens go
(a provider that echoes the key in a 401 leaks nothing)."""

from __future__ import annotations

import httpx
import pytest

from gateway_support import newest_decisions, start_gateway, wait_until
from router.upstream import scrub

SECRET = "nim-SuperSecretValue123"
OTHER = "custom0secret0value"  # another candidate's key, not key-shaped: removed because configured


def policies(base: str) -> str:
    def cand(model: str, env: str) -> str:
        return (f"    model: openai/{model}\n    api_base: {base}\n    api_key_env: {env}\n"
                "    input_price: 1\n    output_price: 1\n    num_retries: 0\n")

    return ("default_policy: p\ncandidates:\n"
            f"  leaky:\n{cand('fake-401', 'V0_TEST_LEAKY_KEY')}  other:\n{cand('fake-ok', 'V0_TEST_OTHER_KEY')}"
            "policies:\n  p:\n    candidates: [leaky, other]\n    threshold: 0.5\n    fallback: leaky\n")


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream, monkeypatch):
    monkeypatch.setenv("V0_TEST_LEAKY_KEY", SECRET)
    monkeypatch.setenv("V0_TEST_OTHER_KEY", OTHER)
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url, policies_text=policies(upstream.base_url),
                         scores={"leaky": 0.9, "other": 0.1})


@pytest.mark.parametrize("stream", [False, True])
def test_a_provider_echoing_the_key_leaks_nothing(gateway, database_url, stream):
    r = httpx.post(gateway.base_url + "/v1/chat/completions", timeout=30,
                   json={"model": "leaky", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
    error = r.json()["error"]
    assert (r.status_code, error["type"], error["code"]) == (502, "upstream_error", "upstream_error")
    assert error["message"].startswith("Upstream error (HTTP 401, authentication_error): ")
    assert "Incorrect API key provided: [redacted]. You sent the header 'Authorization: [redacted]' " \
           "(also tried [redacted])." in error["message"]
    for leak in (SECRET, "SuperSecret", "Abc123def456ghi789", "Bearer nim"):
        assert leak not in r.text

    def row():
        rows = [d for d in newest_decisions(database_url, 5) if d.requested_model == "leaky" and d.stream is stream]
        return rows[0] if rows else None

    logged = wait_until(row)
    assert error["message"] == f"{logged.error} (request id {logged.id})"
    assert r.headers["x-v0-decision-id"] == logged.id


def test_scrub_removes_secrets_auth_values_and_key_shaped_tokens():
    cases = {
        f"bad key {OTHER} given": "bad key [redacted] given",
        "Authorization: Bearer abc.def": "Authorization: [redacted]",
        '{"authorization": "Basic dXNlcjpwYXNz"}': '{"authorization": "[redacted]"}',
        "api_key=plainvalue&x=1": "api_key=[redacted]&x=1",
        "used bearer tok123 here": "used bearer [redacted] here",
        "Incorrect API key provided: sk-proj-abc1********************xyz9.": "Incorrect API key provided: [redacted].",
        "key gsk_0123456789abcdefghij and nvapi-AbCdEf012345": "key [redacted] and [redacted]",
        "aws AKIAABCDEFGHIJKLMNOP, google AIzaSyA0123456789abcdefghijklmnop": "aws [redacted], google [redacted]",
        "jwt eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl end": "jwt [redacted] end",
        "raw 0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d end": "raw [redacted] end",
        "model meta-llama/Llama-3.1-8B-Instruct is overloaded (HTTP 503)":
            "model meta-llama/Llama-3.1-8B-Instruct is overloaded (HTTP 503)",
        "Connection error.": "Connection error.",
    }
    for raw, clean in cases.items():
        assert scrub(raw, [OTHER]) == clean, raw
