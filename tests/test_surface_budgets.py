"""Budgets count every surface's streamed traffic: a key with ``max_budget_usd`` is refused
(``insufficient_quota``) after streamed Responses and Messages calls, and its ``spend_usd`` is
each call's cost (never 0)."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from bench.loopback import COMPLETION_TOKENS, PROMPT_TOKENS
from gateway_support import OK_IN, OK_OUT, start_gateway, wait_for_decision

ADMIN = {"Authorization": "Bearer adm"}
OK_COST = PROMPT_TOKENS * OK_IN / 1e6 + COMPLETION_TOKENS * OK_OUT / 1e6
HI = [{"role": "user", "content": "hello"}]


@pytest.fixture
def gateway(serve_app, tmp_path, fresh_database, upstream):
    return start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, admin_key="adm")


def budgeted_key(served) -> tuple[int, str]:
    r = httpx.post(served.base_url + "/admin/keys", json={"name": "team", "max_budget_usd": 1e-9}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


def spend(served, key_id: int) -> float:
    return next(k["spend_usd"] for k in httpx.get(served.base_url + "/admin/keys", headers=ADMIN).json()
                if k["id"] == key_id)


def test_streamed_responses_spend_and_refusal(gateway, fresh_database):
    key_id, key = budgeted_key(gateway)
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=key, max_retries=0)
    with client.responses.stream(model="auto", input="hello") as stream:
        final = stream.get_final_response()
    row = wait_for_decision(fresh_database, final.id.removeprefix("resp_"))
    assert (row.surface, row.stream, row.client_key_id, row.cost_usd) == ("responses", True, key_id, pytest.approx(OK_COST))
    gateway.app.state.limiter.refresh()
    assert spend(gateway, key_id) == pytest.approx(OK_COST)
    with pytest.raises(openai.RateLimitError) as exc:
        client.responses.create(model="auto", input="hello", stream=True)
    assert exc.value.body["code"] == "insufficient_quota"


def test_streamed_messages_spend_and_refusal(gateway, fresh_database):
    key_id, key = budgeted_key(gateway)
    client = anthropic.Anthropic(base_url=gateway.base_url, api_key=key, max_retries=0)
    with client.messages.stream(model="auto", max_tokens=32, messages=HI) as stream:
        final = stream.get_final_message()
    row = wait_for_decision(fresh_database, final.id.removeprefix("msg_"))
    assert (row.surface, row.stream, row.client_key_id, row.cost_usd) == ("messages", True, key_id, pytest.approx(OK_COST))
    gateway.app.state.limiter.refresh()
    assert spend(gateway, key_id) == pytest.approx(OK_COST)
    with pytest.raises(anthropic.RateLimitError) as exc:
        client.messages.create(model="auto", max_tokens=32, messages=HI, stream=True)
    assert exc.value.body["error"]["type"] == "rate_limit_error" and "budget" in exc.value.body["error"]["message"]
