"""upstream.py: LiteLLM deployments from policies.yaml, retries, cost and error mapping."""

from __future__ import annotations

import asyncio

import httpx
import litellm
import pytest

from router.policies import parse_policies
from router.protocol import GatewayError
from router.upstream import Upstream, deployment, to_gateway_error


def policies_for(base: str, *, retries: int = 0):
    return parse_policies(f"""
default_policy: p
candidates:
  flaky:
    model: openai/fake-500
    api_base: {base}
    api_key_env: V0_TEST_UPSTREAM_KEY
    input_price: 2
    output_price: 8
    num_retries: {retries}
    timeout: 3
  mini:
    model: openai/gpt-4o-mini
    api_base: http://unused.invalid/v1
    api_base_env: V0_TEST_UPSTREAM_BASE
policies:
  p: {{candidates: [flaky, mini], threshold: 0.5, fallback: mini}}
""")


def test_deployment_reads_key_and_base_from_named_env_vars(monkeypatch):
    monkeypatch.setenv("V0_TEST_UPSTREAM_KEY", "sk-test")
    monkeypatch.setenv("V0_TEST_UPSTREAM_BASE", "http://127.0.0.1:9/v1")
    policies = policies_for("http://127.0.0.1:1/v1", retries=3)
    flaky = deployment("flaky", policies.candidates["flaky"], policies.prices["flaky"])
    assert flaky == {"model_name": "flaky", "model_info": {"id": "flaky"}, "litellm_params": {
        "model": "openai/fake-500", "api_base": "http://127.0.0.1:1/v1", "api_key": "sk-test",
        "timeout": 3.0, "stream_timeout": 3.0, "num_retries": 3,
        "input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6}}
    mini = deployment("mini", policies.candidates["mini"], policies.prices["mini"])
    assert mini["litellm_params"]["api_base"] == "http://127.0.0.1:9/v1"  # the env var wins
    assert mini["litellm_params"]["api_key"] == "none"  # no key env var: placeholder
    assert mini["litellm_params"]["input_cost_per_token"] == litellm.model_cost["gpt-4o-mini"]["input_cost_per_token"]


def test_litellm_retries_per_candidate(upstream):
    up = Upstream(policies_for(upstream.base_url, retries=1))
    before = len(upstream.requests_for("fake-500"))
    with pytest.raises(GatewayError) as exc:
        asyncio.run(up.complete(candidate="flaky", messages=[{"role": "user", "content": "x"}],
                                params={}, fallbacks=(), stream=False))
    assert exc.value.status == 502
    assert len(upstream.requests_for("fake-500")) - before == 2  # one try + one retry


def test_cost_is_litellms_with_candidate_prices(upstream):
    up = Upstream(policies_for(upstream.base_url))
    assert up.cost("flaky", 1000, 500) == pytest.approx(1000 * 2e-6 + 500 * 8e-6)


def _status_error(cls, status: int):
    response = httpx.Response(status, request=httpx.Request("POST", "http://x"))
    return cls(message="boom", llm_provider="openai", model="m", response=response)


def test_error_mapping():
    cases = [
        (litellm.Timeout(message="slow", model="m", llm_provider="openai"), 504, "upstream_timeout"),
        (_status_error(litellm.BadRequestError, 400), 400, "upstream_bad_request"),
        (_status_error(litellm.RateLimitError, 429), 429, "upstream_rate_limited"),
        (litellm.APIConnectionError(message="refused", llm_provider="openai", model="m"), 502, "upstream_error"),
        (RuntimeError("anything else"), 502, "upstream_error"),
    ]
    for exc, status, code in cases:
        err = to_gateway_error(exc)
        assert (err.status, err.body.code) == (status, code), exc


def test_a_bug_is_a_500_not_an_upstream_error(serve_app, tmp_path, database_url, upstream, caplog):
    from gateway_support import start_gateway

    served = start_gateway(serve_app, tmp_path, database_url, upstream.base_url)

    async def broken(**_):
        raise KeyError("a bug in the gateway")

    served.app.state.watcher.runtime.upstream.router.acompletion = broken
    r = httpx.post(served.base_url + "/v1/chat/completions", timeout=10,
                   json={"model": "ok", "messages": [{"role": "user", "content": "hi"}]})
    assert (r.status_code, r.json()["error"]["type"]) == (500, "internal_error")
    assert any(rec.exc_info and rec.exc_info[0] is KeyError for rec in caplog.records)


def test_library_use_never_imports_litellm_unconfigured(tmp_path):
    """Pricing a candidate from LiteLLM's cost map outside any entry point still uses the bundled
    map (no network fetch): the process ends with the variable set by the gateway itself."""
    import os
    import subprocess
    import sys

    code = ("import os; from router.policies import parse_policies; "
            "parse_policies('default_policy: p\\ncandidates:\\n  m: {model: openai/gpt-4o-mini}\\n"
            "policies:\\n  p: {candidates: [m], threshold: 0.5, fallback: m}\\n'); "
            "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])")
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr[-2000:]
