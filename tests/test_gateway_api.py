"""End to end: the real openai client -> gateway (uvicorn) -> LiteLLM -> loopback upstream,
with decision rows checked in SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import openai
import pytest

from bench.loopback import COMPLETION_TOKENS, PROMPT_TOKENS
from gateway_support import OK_IN, OK_OUT, start_gateway, wait_for_decision, wait_until

OK_COST = PROMPT_TOKENS * OK_IN / 1e6 + COMPLETION_TOKENS * OK_OUT / 1e6


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url)


def client_for(served, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key=key, max_retries=0)


def test_completion_through_openai_client(gateway, database_url, upstream):
    raw = client_for(gateway).chat.completions.with_raw_response.create(
        model="router/balanced", messages=[{"role": "user", "content": "Say hi"}])
    completion = raw.parse()
    assert raw.status_code == 200
    assert raw.headers["x-v0-model"] == "ok"
    assert raw.headers["x-v0-p-success"] == "0.8000"
    decision_id = raw.headers["x-v0-decision-id"]
    assert len(decision_id) == 32
    assert completion.model == "ok"
    assert completion.choices[0].message.content == "echo: Say hi"
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == COMPLETION_TOKENS

    row = wait_for_decision(database_url, decision_id)
    assert row.requested_model == "router/balanced"
    assert row.policy == "balanced"
    assert row.chosen_model == "ok"
    assert row.answered_model == "ok"
    assert row.reason == "cheapest_above_threshold"
    assert row.threshold == 0.7
    assert row.p_success == 0.8
    assert [c["name"] for c in row.candidates] == ["ok", "strong"]
    assert [c["p_success"] for c in row.candidates] == [0.8, 0.95]
    assert row.candidates[0]["expected_cost"] < row.candidates[1]["expected_cost"]
    assert row.profile_versions == {"ok": 1, "strong": 1}
    assert row.status == "ok" and row.http_status == 200 and row.stream is False
    assert row.prompt_tokens == PROMPT_TOKENS and row.completion_tokens == COMPLETION_TOKENS
    assert row.cost_usd == pytest.approx(OK_COST)
    assert row.latency_ms > 0 and row.error is None


def test_stream_through_openai_client(gateway, database_url, upstream):
    raw = client_for(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hi"}], stream=True)
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-v0-model"] == "ok"
    assert raw.headers["x-v0-p-success"] == "0.8000"
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Say hi"
    assert {c.model for c in chunks} == {"ok"}
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage
    # ...but the gateway always asks upstream for it, so the stream's cost is logged.
    assert upstream.requests[-1]["stream_options"] == {"include_usage": True}

    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert row.stream is True and row.status == "ok" and row.policy == "balanced"
    assert row.prompt_tokens == PROMPT_TOKENS and row.completion_tokens == COMPLETION_TOKENS
    assert row.cost_usd == pytest.approx(OK_COST)


def test_stream_with_usage_requested(gateway, database_url):
    chunks = list(client_for(gateway).chat.completions.create(
        model="ok", messages=[{"role": "user", "content": "x"}], stream=True,
        stream_options={"include_usage": True}))
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1
    assert (usage[0].prompt_tokens, usage[0].completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)


def test_parameters_pass_through(gateway, upstream):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    client_for(gateway).chat.completions.create(
        model="ok", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "p"}],
        temperature=0.25, top_p=0.5, max_tokens=17, stop=["END"], n=1, seed=42, user="u-1",
        tools=tools, tool_choice="auto", response_format={"type": "json_object"},
        presence_penalty=0.1, frequency_penalty=0.2, extra_body={"custom_field": "kept"})
    sent = upstream.requests_for("fake-ok")[-1]
    assert sent["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "p"}]
    expected = {"temperature": 0.25, "top_p": 0.5, "max_tokens": 17, "stop": ["END"], "n": 1, "seed": 42,
                "user": "u-1", "tools": tools, "tool_choice": "auto",
                "response_format": {"type": "json_object"}, "presence_penalty": 0.1,
                "frequency_penalty": 0.2, "custom_field": "kept"}
    assert {k: sent.get(k) for k in expected} == expected


def test_unrouted_candidate_has_no_p_header(gateway, database_url):
    raw = client_for(gateway).chat.completions.with_raw_response.create(
        model="strong", messages=[{"role": "user", "content": "hello"}])
    assert raw.headers["x-v0-model"] == "strong"
    assert "x-v0-p-success" not in raw.headers
    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert (row.policy, row.chosen_model, row.candidates, row.p_success) == (None, "strong", [], None)


def test_no_candidate_clears_uses_fallback(gateway, database_url):
    raw = client_for(gateway).chat.completions.with_raw_response.create(
        model="router/strict", messages=[{"role": "user", "content": "hello"}])
    assert raw.headers["x-v0-model"] == "strong"
    assert raw.headers["x-v0-p-success"] == "0.9500"
    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert row.reason == "fallback_none_above_threshold"


def test_litellm_fallback_when_chosen_fails(gateway, database_url):
    raw = client_for(gateway).chat.completions.with_raw_response.create(
        model="router/failover", messages=[{"role": "user", "content": "hello"}])
    assert raw.parse().model == "ok"
    assert raw.headers["x-v0-model"] == "ok"  # answered by the fallback
    assert raw.headers["x-v0-p-success"] == "0.8000"  # the fallback's P
    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert (row.chosen_model, row.answered_model, row.status) == ("broken", "ok", "ok")


def test_models_lists_policies_and_candidates(gateway):
    ids = [m.id for m in client_for(gateway).models.list()]
    assert ids == ["auto", "router/balanced", "router/strict", "router/failover", "router/down",
                   "ok", "strong", "broken", "slow", "cut", "dead"]


def test_health_and_ready(gateway):
    assert httpx.get(gateway.base_url + "/healthz").json() == {"status": "ok"}
    def reachable():
        ready = httpx.get(gateway.base_url + "/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "ready")
        return ready.json()["decision_log"]["database"] == "reachable"

    wait_until(reachable)


def test_stand_in_scorer_when_selected(serve_app, tmp_path, database_url, upstream):
    served = start_gateway(serve_app, tmp_path, database_url, upstream.base_url, scores=None,
                           policies_text=None)
    raw = client_for(served).chat.completions.with_raw_response.create(
        model="router/balanced", messages=[{"role": "user", "content": "hello"}])
    # Stand-in: cheapest "ok" gets 0.6 - 0.1*5/4000 < 0.7, "strong" 0.9 - ... clears.
    assert raw.headers["x-v0-model"] == "strong"
    assert raw.headers["x-v0-p-success"] == "0.8999"


def test_client_keys(serve_app, tmp_path, database_url, upstream):
    served = start_gateway(serve_app, tmp_path, database_url, upstream.base_url, client_keys="k1,k2")
    with pytest.raises(openai.AuthenticationError) as exc:
        client_for(served, "wrong").chat.completions.create(
            model="ok", messages=[{"role": "user", "content": "hello"}])
    assert exc.value.status_code == 401
    assert exc.value.body == {"message": "Invalid or missing API key (Authorization: Bearer <key>).",
                              "type": "authentication_error", "param": None, "code": "invalid_api_key"}
    ok = client_for(served, "k2").chat.completions.create(
        model="ok", messages=[{"role": "user", "content": "hello"}])
    assert ok.model == "ok"
