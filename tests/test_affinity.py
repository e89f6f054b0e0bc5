"""Conversation affinity on every surface, with the real SDKs against the app and the loopback
upstream: a three-turn tool conversation (user -> tool call -> tool result -> a much harder user
question) stays on one model where the hard question alone routes elsewhere; with
``escalate: up`` it moves up, never down; sessions, restarts and the decision row."""

from __future__ import annotations

import dataclasses
import sys
import uuid

import anthropic
import httpx
import openai
import pytest

from gateway_support import policies_yaml, start_gateway, wait_for_decision
from router.scoring import ScoreResult

HARD = "HARD: prove that every even number above two is a sum of two primes."
EASY = "Weather in Paris?"


class TextScorer:
    """ok clears the 0.7 threshold unless the routing text says HARD; strong always does."""

    def score(self, text, candidates, *, profile_size=256):
        ok = 0.3 if "HARD" in text else 0.8
        return ScoreResult({c: {"ok": ok, "strong": 0.95}.get(c, 0.5) for c in candidates}, {c: 1 for c in candidates})


@pytest.fixture(autouse=True)
def fresh_opening(monkeypatch):
    """Each test's conversations open with their own text (the session's database is shared)."""
    monkeypatch.setattr(sys.modules[__name__], "EASY", f"Weather in Paris? ({uuid.uuid4().hex[:8]})")


def start(serve_app, tmp_path, database_url, upstream, escalate: str = "never"):
    text = policies_yaml(upstream.base_url).replace(
        "  strict:\n", f"    affinity: {{escalate: {escalate}, ttl_s: 600}}\n  strict:\n", 1)
    served = start_gateway(serve_app, tmp_path, database_url, upstream.base_url, policies_text=text)
    watcher = served.app.state.watcher
    watcher.runtime = dataclasses.replace(watcher.runtime, scorer=TextScorer())
    return served


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    return start(serve_app, tmp_path, database_url, upstream)


def chat(served, messages, **kw):
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
    return client.chat.completions.with_raw_response.create(model="auto", messages=messages, **kw)


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def chat_conversation(served) -> list:
    """Three turns on chat; returns the raw responses."""
    turn1 = chat(served, [{"role": "user", "content": EASY}], tools=TOOLS, tool_choice="required")
    call = turn1.parse().choices[0].message.tool_calls[0]
    history = [{"role": "user", "content": EASY},
               {"role": "assistant", "tool_calls": [call.model_dump()]},
               {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    turn2 = chat(served, history, tools=TOOLS)
    answer = turn2.parse().choices[0].message.content
    turn3 = chat(served, [*history, {"role": "assistant", "content": answer}, {"role": "user", "content": HARD}],
                 tools=TOOLS)
    return [turn1, turn2, turn3]


def test_chat_tool_conversation_stays_on_one_model(gateway, database_url):
    assert chat(gateway, [{"role": "user", "content": HARD}]).headers["x-v0-model"] == "strong"  # alone
    turns = chat_conversation(gateway)
    assert [t.headers["x-v0-model"] for t in turns] == ["ok", "ok", "ok"]
    assert [t.headers["x-v0-affinity"] for t in turns] == ["miss", "hit", "hit"]
    rows = [wait_for_decision(database_url, t.headers["x-v0-decision-id"]) for t in turns]
    assert [r.reason for r in rows] == ["cheapest_above_threshold", "affinity", "affinity"]
    assert len({r.conversation_key for r in rows}) == 1 and rows[0].conversation_key.startswith("h")
    assert {r.surface for r in rows} == {"chat"}


def test_responses_tool_conversation_stays_on_one_model(gateway):
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="unused", max_retries=0)
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    raw1 = client.responses.with_raw_response.create(model="auto", input=EASY, tools=tools, tool_choice="required")
    call = raw1.parse().output[0]
    items = [{"role": "user", "content": EASY}, call.model_dump(exclude_none=True),
             {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    with client.responses.stream(model="auto", input=items, tools=tools) as s:  # streamed turn
        answer = s.get_final_response()
    raw3 = client.responses.with_raw_response.create(model="auto", tools=tools, input=[
        *items, {"role": "assistant", "content": answer.output_text}, {"role": "user", "content": HARD}])
    assert [raw1.headers["x-v0-model"], answer.model, raw3.headers["x-v0-model"]] == ["ok", "ok", "ok"]
    assert raw3.headers["x-v0-affinity"] == "hit"


def test_messages_tool_conversation_stays_on_one_model(gateway, database_url):
    client = anthropic.Anthropic(base_url=gateway.base_url, api_key="unused", max_retries=0)
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    ask = [{"role": "user", "content": EASY}]
    raw1 = client.messages.with_raw_response.create(model="auto", max_tokens=64, messages=ask, tools=tools,
                                                    tool_choice={"type": "any"})
    use = raw1.parse().content[0]
    history = [*ask, {"role": "assistant", "content": [use.model_dump()]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]}]
    raw2 = client.messages.with_raw_response.create(model="auto", max_tokens=64, messages=history, tools=tools)
    raw3 = client.messages.with_raw_response.create(model="auto", max_tokens=64, tools=tools, messages=[
        *history, {"role": "assistant", "content": raw2.parse().content[0].text}, {"role": "user", "content": HARD}])
    assert [r.headers["x-v0-model"] for r in (raw1, raw2, raw3)] == ["ok", "ok", "ok"]
    row = wait_for_decision(database_url, raw3.headers["x-v0-decision-id"])
    assert (row.surface, row.reason) == ("messages", "affinity")


def test_escalate_up_moves_up_never_down(serve_app, tmp_path, database_url, upstream):
    served = start(serve_app, tmp_path, database_url, upstream, escalate="up")
    turns = chat_conversation(served)
    assert [t.headers["x-v0-model"] for t in turns] == ["ok", "ok", "strong"]  # the tool turn never moves
    row = wait_for_decision(database_url, turns[2].headers["x-v0-decision-id"])
    assert row.reason == "affinity_escalated"
    assert chat(served, [{"role": "user", "content": HARD}]).headers["x-v0-model"] == "strong"
    down = chat(served, [{"role": "user", "content": HARD}, {"role": "assistant", "content": "hmm"},
                         {"role": "user", "content": EASY}])  # that conversation goes on with an easy turn
    assert (down.headers["x-v0-model"], down.headers["x-v0-affinity"]) == ("strong", "hit")


def test_session_header_survives_a_restart(serve_app, tmp_path, database_url, upstream):
    first = start(serve_app, tmp_path, database_url, upstream)
    session = uuid.uuid4().hex
    one = chat(first, [{"role": "user", "content": EASY}], extra_headers={"x-v0-session": session})
    wait_for_decision(database_url, one.headers["x-v0-decision-id"])
    second = start(serve_app, tmp_path, database_url, upstream)  # another replica, empty memory
    two = chat(second, [{"role": "user", "content": HARD}], extra_headers={"x-v0-session": session})
    assert (one.headers["x-v0-model"], two.headers["x-v0-model"], two.headers["x-v0-affinity"]) == ("ok", "ok", "hit")
    other = chat(second, [{"role": "user", "content": HARD}], metadata={"session_id": session + "-other"})
    assert (other.headers["x-v0-model"], other.headers["x-v0-affinity"]) == ("strong", "miss")


def test_unrouted_requests_have_no_affinity(gateway):
    r = httpx.post(gateway.base_url + "/v1/chat/completions",
                   json={"model": "strong", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200 and "x-v0-affinity" not in r.headers
