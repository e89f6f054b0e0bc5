"""The overhead bench's LiteLLM proxy config on the Responses and Messages surfaces: with it, LiteLLM
answers both through the chat-only loopback upstream's chat completions (without it, its Responses
call goes to the upstream's own /v1/responses and fails), so the proxy has a like-for-like cell."""

import asyncio

import litellm
import pytest
import yaml

from bench.overhead.run import litellm_config

PROMPT = "Write one sentence about routers."


def _router(upstream, surface: str, monkeypatch: pytest.MonkeyPatch) -> litellm.Router:
    """A LiteLLM Router from the bench's proxy config, its litellm_settings applied as the proxy does."""
    cfg = yaml.safe_load(litellm_config(upstream.base_url, surface))
    for key, value in cfg["litellm_settings"].items():
        monkeypatch.setattr(litellm, key, value, raising=False)
    return litellm.Router(model_list=cfg["model_list"], num_retries=0, disable_cooldowns=True)


def _chat_calls(upstream) -> int:
    return sum(1 for r in upstream.requests_for("bench-c1") if r["messages"][-1]["content"] == PROMPT)


def test_responses_config_bridges_to_chat(upstream, monkeypatch):
    before = _chat_calls(upstream)
    router = _router(upstream, "responses", monkeypatch)
    out = asyncio.run(router.aresponses(model="bench-c1", input=PROMPT, max_output_tokens=16))
    assert out.output[0].content[0].text == f"echo: {PROMPT}"
    assert _chat_calls(upstream) == before + 1


def test_chat_config_sends_responses_to_the_upstream_responses_api(upstream, monkeypatch):
    """Why the bridge is needed: the plain `openai/` deployment calls /v1/responses, which 404s."""
    router = _router(upstream, "chat", monkeypatch)
    with pytest.raises(litellm.NotFoundError):
        asyncio.run(router.aresponses(model="bench-c1", input=PROMPT, max_output_tokens=16))


def test_messages_config_bridges_to_chat(upstream, monkeypatch):
    before = _chat_calls(upstream)
    router = _router(upstream, "messages", monkeypatch)
    out = asyncio.run(router.aanthropic_messages(model="bench-c1", max_tokens=16,
                                                 messages=[{"role": "user", "content": PROMPT}]))
    assert out["content"][0]["text"] == f"echo: {PROMPT}"
    assert _chat_calls(upstream) == before + 1
