"""Forwarding through LiteLLM's Router, built from policies.yaml.

One deployment per candidate (``model_name`` = candidate name = ``model_info.id``), with the
candidate's model string, api_base, API key (from the named env var), timeout, retries and
prices. Retries, fallbacks, streaming and cost are LiteLLM's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx

from router.litellm_setup import litellm_module
from router.policies import CandidateSpec, Policies, Prices
from router.protocol import GatewayError


def deployment(name: str, cand: CandidateSpec, prices: Prices) -> dict[str, Any]:
    api_base = os.environ.get(cand.api_base_env) if cand.api_base_env else None
    params: dict[str, Any] = {
        "model": cand.model,
        "api_base": api_base or cand.api_base,
        # OpenAI-compatible servers without auth still want a non-empty key.
        "api_key": (os.environ.get(cand.api_key_env) if cand.api_key_env else None) or "none",
        "timeout": cand.timeout,
        "stream_timeout": cand.timeout,
        "num_retries": cand.num_retries,
        "input_cost_per_token": prices.input_per_token,
        "output_cost_per_token": prices.output_per_token,
    }
    return {"model_name": name, "litellm_params": {k: v for k, v in params.items() if v is not None},
            "model_info": {"id": name}}


class Upstream:
    """A LiteLLM Router for one version of the policies file.

    A candidate with ``require_api_key`` whose ``api_key_env`` is unset is never called: choosing it fails at once with
    502 ``upstream_key_missing`` (naming the variable), and it is left out of fallbacks."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        model_list = [deployment(n, c, policies.prices[n]) for n, c in policies.candidates.items()]
        self.router = litellm_module().Router(model_list=model_list, num_retries=0, disable_cooldowns=True)
        self.missing_keys = {n: c.api_key_env for n, c in policies.candidates.items()
                             if c.require_api_key and c.api_key_env and not os.environ.get(c.api_key_env)}

    async def complete(self, *, candidate: str, messages: list[dict[str, Any]], params: dict[str, Any],
                       fallbacks: Sequence[str], stream: bool) -> Any:
        """ModelResponse, or an async iterator of chunks when ``stream``; raises GatewayError."""
        if candidate in self.missing_keys:
            raise GatewayError(502, f"Candidate {candidate!r} has no API key: set the environment variable "
                               f"{self.missing_keys[candidate]} for the gateway.", type="upstream_error",
                               code="upstream_key_missing")
        fallbacks = [f for f in fallbacks if f not in self.missing_keys]
        kwargs = dict(params)
        if stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {**kwargs.get("stream_options", {}), "include_usage": True}
        if fallbacks:
            kwargs["fallbacks"] = list(fallbacks)
        if "user" in kwargs:  # LiteLLM drops `user` for models outside OpenAI's catalog otherwise
            kwargs["allowed_openai_params"] = ["user"]
        try:
            return await self.router.acompletion(model=candidate, messages=messages, **kwargs)
        except upstream_errors() as exc:
            raise to_gateway_error(exc) from exc

    def cost(self, candidate: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Actual cost by LiteLLM's cost function with the candidate's resolved prices."""
        prices = self.policies.prices[candidate]
        inp, out = litellm_module().cost_per_token(
            model=self.policies.candidates[candidate].model,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            custom_cost_per_token={"input_cost_per_token": prices.input_per_token,
                                   "output_cost_per_token": prices.output_per_token})
        return inp + out


# Fixed prompt-token estimates for parts that are not text (nothing a client names is ever fetched
# to count them): an image by its detail level (OpenAI's figures: 85 tokens at low detail; high and
# auto as a 1024x1024 image, 4 tiles of 170 plus 85), any other part (audio, file) a flat 256.
IMAGE_TOKENS = {"low": 85, "high": 765, "auto": 765}
OTHER_PART_TOKENS = 256
MESSAGE_TOKENS = 3  # OpenAI's per-message framing; the reply's priming adds 3 once


def count_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens for the expected cost before routing: the text (role, name, text parts, tool
    call names and arguments) by LiteLLM's default tokenizer, images and other parts by the fixed
    estimates above. Pure computation on validated messages: no network, no file."""
    texts: list[str] = []
    fixed = 3
    for message in messages:
        fixed += MESSAGE_TOKENS
        texts += [str(message.get("role", "")), str(message.get("name") or "")]
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        for part in content if isinstance(content, list) else ():
            kind = part.get("type")
            if kind in ("text", "refusal"):
                texts.append(str(part.get(kind, "")))
            elif kind == "image_url":
                fixed += IMAGE_TOKENS.get(str((part.get("image_url") or {}).get("detail") or "auto"), 765)
            else:
                fixed += OTHER_PART_TOKENS
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            texts += [str(fn.get("name", "")), str(fn.get("arguments", ""))]
    text = "\n".join(t for t in texts if t)
    return fixed + (litellm_module().token_counter(text=text) if text else 0)


def answered_by(response: Any, default: str) -> str:
    """The candidate whose deployment answered (differs from the choice after a fallback)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    return hidden.get("model_id") or default


def upstream_errors() -> tuple[type[Exception], ...]:
    """What a failed upstream call raises: LiteLLM's mapped errors (all of OpenAI's exception
    family), LiteLLM's router refusals, and the transport's. Anything else is a bug: a 500 with a
    logged traceback, not a 502."""
    import openai  # LiteLLM's own dependency; its exception types are LiteLLM's base classes

    from litellm.types.router import RouterRateLimitError

    litellm_module()
    return (openai.OpenAIError, RouterRateLimitError, httpx.HTTPError, TimeoutError, ConnectionError)


def to_gateway_error(exc: Exception) -> GatewayError:
    litellm = litellm_module()
    message = str(exc)
    if isinstance(exc, litellm.Timeout):
        return GatewayError(504, message, type="upstream_error", code="upstream_timeout")
    if isinstance(exc, litellm.ContextWindowExceededError):
        return GatewayError(400, message, type="invalid_request_error", code="context_length_exceeded")
    if isinstance(exc, litellm.BadRequestError):
        return GatewayError(400, message, type="invalid_request_error", code="upstream_bad_request")
    if isinstance(exc, litellm.RateLimitError):
        return GatewayError(429, message, type="upstream_error", code="upstream_rate_limited")
    return GatewayError(502, message, type="upstream_error", code="upstream_error")
