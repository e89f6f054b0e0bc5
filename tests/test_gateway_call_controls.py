"""The client never chooses where or how the gateway calls an upstream: LiteLLM's call controls in
a request body (endpoints, keys, headers, retries, fallbacks, fabricated answers) are refused with
400 before anything is called or logged, JSON and stream, routed and unrouted; only the OpenAI
chat parameters and a candidate's own ``extra_params`` are forwarded."""

from __future__ import annotations

import openai
import pytest

from bench.loopback import LoopbackUpstream
from gateway_support import count_decisions, start_gateway
from router.policies import PolicyError, parse_policies

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def trap():
    """Where a hostile client would like the operator's key to go."""
    with LoopbackUpstream() as up:
        yield up


def dangerous(trap_url: str) -> dict[str, object]:
    return {
        "api_base": trap_url, "base_url": trap_url, "api_key": "sk-client", "api_version": "2024-01-01",
        "extra_headers": {"x-exfil": "1"}, "headers": {"x-exfil": "1"}, "num_retries": 50,
        "max_retries": 50, "timeout": 0.001, "fallbacks": ["strong"], "mock_response": "fabricated",
        "custom_llm_provider": "openai", "model_list": [], "user_config": {}, "litellm_metadata": {},
        "input_cost_per_token": 0, "allowed_openai_params": ["x"], "drop_params": True,
    }


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url)


def client_for(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key="x", max_retries=0)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["ok", "auto"], ids=["unrouted", "routed"])
def test_call_controls_are_refused_and_reach_nothing(gateway, database_url, upstream, trap, model, stream):
    before_rows, before_calls = count_decisions(database_url), len(upstream.requests)
    for field, value in dangerous(trap.base_url).items():
        with pytest.raises(openai.BadRequestError) as exc:
            result = client_for(gateway).chat.completions.create(
                model=model, messages=HELLO, stream=stream, extra_body={field: value})
            if stream:
                list(result)
        assert exc.value.body["code"] == "unsupported_parameter", field
        assert exc.value.body["param"] == field
    assert trap.requests == []
    assert len(upstream.requests) == before_calls
    assert count_decisions(database_url) == before_rows


def test_metadata_is_accepted_but_stays_in_the_gateway(gateway, upstream):
    client_for(gateway).chat.completions.create(model="ok", messages=HELLO, metadata={"team": "a"})
    assert "metadata" not in upstream.requests_for("fake-ok")[-1]


def test_candidate_extra_params_forwarded_only_where_every_candidate_allows(gateway, upstream):
    client_for(gateway).chat.completions.create(model="ok", messages=HELLO, extra_body={"custom_field": "kept"})
    assert upstream.requests_for("fake-ok")[-1]["custom_field"] == "kept"
    for model in ("strong", "auto"):  # strong does not list it; auto can reach strong
        with pytest.raises(openai.BadRequestError) as exc:
            client_for(gateway).chat.completions.create(model=model, messages=HELLO,
                                                        extra_body={"custom_field": "kept"})
        assert exc.value.body["message"] == (
            "Unsupported parameter 'custom_field': not an OpenAI chat parameter, and not allowed for "
            "'strong' (extra_params in the policies file).")


@pytest.mark.parametrize("param", ["api_base", "mock_response", "num_retries", "extra_headers", "metadata",
                                   "mock_tool_calls", "mock_testing_fallbacks", "aws_secret_access_key",
                                   "vertex_credentials", "azure_ad_token", "callbacks", "success_callback",
                                   "http_client", "api_type", "proxy", "watsonx_region_name", "custom_auth_token"])
def test_policies_cannot_allow_call_controls(param):
    text = ("default_policy: p\ncandidates:\n  a:\n    model: openai/x\n    input_price: 1\n"
            f"    output_price: 1\n    extra_params: [top_k, {param}]\npolicies:\n"
            "  p:\n    candidates: [a]\n    threshold: 0.5\n    fallback: a\n")
    with pytest.raises(PolicyError) as exc:
        parse_policies(text)
    assert exc.value.line == 7
    reason = "is an OpenAI chat parameter already" if param == "metadata" else "is a LiteLLM call control"
    assert f"candidate 'a': {param!r} {reason}" in exc.value.reason


@pytest.mark.parametrize("field,value", [("temperature", "1e309"), ("temperature", "NaN"),
                                         ("top_p", "-Infinity"), ("presence_penalty", "3")])
def test_non_finite_or_out_of_range_numbers_are_refused_at_once(gateway, upstream, field, value):
    import httpx

    calls = len(upstream.requests)
    body = '{"model": "ok", "messages": [{"role": "user", "content": "hi"}], "%s": %s}' % (field, value)
    r = httpx.post(gateway.base_url + "/v1/chat/completions", content=body,
                   headers={"content-type": "application/json"}, timeout=5)
    assert (r.status_code, r.json()["error"]["param"], r.json()["error"]["code"]) == (400, field, "invalid_value")
    assert len(upstream.requests) == calls
