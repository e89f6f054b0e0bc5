"""POST /v1/responses with the real openai SDK against the app and a loopback upstream that speaks
only /v1/chat/completions: JSON and stream, a function-tool round trip, refusals."""

from __future__ import annotations

import httpx
import openai
import pytest

from bench.loopback import COMPLETION_TOKENS, PROMPT_TOKENS
from gateway_support import OK_IN, OK_OUT, start_gateway, wait_for_decision

OK_COST = PROMPT_TOKENS * OK_IN / 1e6 + COMPLETION_TOKENS * OK_OUT / 1e6
WEATHER = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url)


def client_for(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)


def test_json_response_routed_and_logged(gateway, database_url, upstream):
    raw = client_for(gateway).responses.with_raw_response.create(
        model="router/balanced", input="Say hi", instructions="be brief", max_output_tokens=50, temperature=0.5)
    response = raw.parse()
    assert (raw.headers["x-v0-model"], raw.headers["x-v0-p-success"]) == ("ok", "0.8000")
    assert response.id == "resp_" + raw.headers["x-v0-decision-id"]
    assert (response.object, response.status, response.model, response.output_text) == \
        ("response", "completed", "ok", "echo: Say hi")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    sent = upstream.requests_for("fake-ok")[-1]
    assert sent["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Say hi"}]
    assert (sent["max_tokens"], sent["temperature"]) == (50, 0.5)
    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert (row.policy, row.answered_model, row.status, row.stream) == ("balanced", "ok", "ok", False)
    assert row.cost_usd == pytest.approx(OK_COST)


def test_stream_events_and_cost(gateway, database_url):
    with client_for(gateway).responses.stream(model="auto", input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Say hi"}]}]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "echo: Say hi"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == "echo: Say hi" and final.usage.output_tokens == COMPLETION_TOKENS
    row = wait_for_decision(database_url, final.id.removeprefix("resp_"))
    assert (row.stream, row.status, row.cost_usd, row.surface) == (True, "ok", pytest.approx(OK_COST), "responses")


@pytest.mark.parametrize("stream", [False, True])
def test_function_tool_round_trip(gateway, upstream, stream):
    client = client_for(gateway)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        with client.responses.stream(model="auto", input=ask, tools=WEATHER, tool_choice="required") as s:
            first = s.get_final_response()
    else:
        first = client.responses.create(model="auto", input=ask, tools=WEATHER, tool_choice="required")
    [call] = first.output
    assert (call.type, call.name, call.arguments, call.call_id) == \
        ("function_call", "get_weather", '{"q": "Weather in Paris?"}', "call_1")
    assert upstream.requests_for("fake-ok")[-1]["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER[0]["parameters"]}}]
    second = client.responses.create(model="auto", tools=WEATHER, input=[
        *ask, call.model_dump(exclude_none=True), {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.output_text == "tool said: sunny"
    assert upstream.requests_for("fake-ok")[-1]["messages"][1:] == [
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"q": "Weather in Paris?"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]


def test_admin_stats_by_surface(serve_app, tmp_path, fresh_database, upstream):
    served = start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, admin_key="adm")
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
    ids = [client.responses.with_raw_response.create(model="auto", input="hi").headers["x-v0-decision-id"]
           for _ in range(2)]
    ids.append(client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]).headers["x-v0-decision-id"])
    for decision_id in ids:
        wait_for_decision(fresh_database, decision_id)
    stats = httpx.get(served.base_url + "/admin/stats", headers={"Authorization": "Bearer adm"}).json()
    assert {k: (v["requests"], v["errors"]) for k, v in stats["by_surface"].items()} == \
        {"chat": (1, 0), "responses": (2, 0)}
    assert stats["by_surface"]["responses"]["cost_usd"] == pytest.approx(2 * OK_COST)


def test_stream_cut_midway_raises_in_the_sdk(gateway, database_url):
    with pytest.raises(openai.APIError):
        for _ in client_for(gateway).responses.create(model="cut", input="hello", stream=True):
            pass


@pytest.mark.parametrize("body, param, code", [
    ({"previous_response_id": "resp_x"}, "previous_response_id", "unsupported_parameter"),
    ({"tools": [{"type": "web_search"}]}, "tools.0.type", "invalid_value"),
    ({"input": [{"type": "computer_call"}]}, "input.0.type", "invalid_value"),
    ({"api_base": "http://evil"}, "api_base", "unsupported_parameter"),
    ({"input": " "}, "messages", "empty_prompt"),
    ({"model": "nope"}, "model", "model_not_found"),
])
def test_refusals_in_openai_shape(gateway, body, param, code):
    r = httpx.post(gateway.base_url + "/v1/responses", json={"model": "auto", "input": "hi", **body})
    error = r.json()["error"]
    assert (r.status_code // 100, error["param"], error["code"]) == (4, param, code)
