"""Forwarding through LiteLLM's Router, built from policies.yaml.

One deployment per candidate (``model_name`` = candidate name = ``model_info.id``), with the
candidate's model string, api_base, API key (from the named env var), timeout, retries and
prices. Retries, fallbacks, streaming and cost are LiteLLM's.

``Upstream.chat`` (JSON) and ``Upstream.chat_stream`` (chunks) turn LiteLLM's answer into the
typed :class:`UpstreamResult` (answered model, usage, cost, latency, error, fallback used, answer
text): LiteLLM's private ``_hidden_params`` are read here and nowhere else, and the cost of a JSON
answer and of a stream comes from the same function (``Upstream.cost``, the candidate's prices).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from typing import Any

import httpx

from router.litellm_setup import litellm_module
from router.policies import CandidateSpec, Policies, Prices
from router.protocol import GatewayError
from router.upstream_result import Answer, UpstreamReply, UpstreamResult, UpstreamStream

__all__ = ["Upstream", "UpstreamReply", "UpstreamResult", "UpstreamStream", "answered_by", "count_prompt_tokens",
           "deployment", "to_gateway_error", "upstream_errors"]



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
        # Every candidate's API key value: never in an error a client or a row sees.
        self.secrets = tuple(v for c in policies.candidates.values()
                             if c.api_key_env and (v := os.environ.get(c.api_key_env)))
        self.missing_keys = {n: c.api_key_env for n, c in policies.candidates.items()
                             if c.require_api_key and c.api_key_env and not os.environ.get(c.api_key_env)}

    async def complete(self, *, candidate: str, messages: list[dict[str, Any]], params: dict[str, Any],
                       fallbacks: Sequence[str], stream: bool) -> Any:
        """ModelResponse, or an async iterator of chunks when ``stream``; raises GatewayError."""
        self._check_key(candidate)
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
            raise to_gateway_error(exc, self.secrets) from exc

    async def answer(self, *, candidate: str, messages: list[dict[str, Any]],
                     params: dict[str, Any]) -> UpstreamResult:
        """One JSON call off the request path (judge grades, shadow calls, profile builds): the
        candidate alone, no fallbacks; raises GatewayError."""
        return (await self.chat(candidate=candidate, messages=messages, params=params, fallbacks=())).result

    def supports_json_schema(self, candidate: str) -> bool:
        """Whether the candidate's provider takes ``response_format: json_schema`` (LiteLLM's map)."""
        try:
            return bool(litellm_module().supports_response_schema(model=self.policies.candidates[candidate].model))
        except Exception:  # an unknown model or provider: no structured output
            return False

    def estimate(self, candidate: str, messages: list[dict[str, Any]], output_tokens: int) -> float:
        """The cost of a call before it is made: its prompt's tokens, ``output_tokens`` answered."""
        return self.estimates([candidate], messages, output_tokens)[candidate]

    def estimates(self, candidates: Sequence[str], messages: list[dict[str, Any]],
                  output_tokens: int) -> dict[str, float]:
        """:meth:`estimate` for each candidate, the prompt's tokens counted once."""
        prompt = count_prompt_tokens(messages)
        return {c: prompt * (p := self.policies.prices[c]).input_per_token + output_tokens * p.output_per_token
                for c in candidates}

    def _check_key(self, candidate: str) -> None:
        if candidate in self.missing_keys:
            raise GatewayError(502, f"Candidate {candidate!r} has no API key: set the environment variable "
                               f"{self.missing_keys[candidate]} for the gateway.", type="upstream_error",
                               code="upstream_key_missing")

    def cost(self, candidate: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Actual cost by LiteLLM's cost function with the candidate's resolved prices."""
        prices = self.policies.prices[candidate]
        inp, out = litellm_module().cost_per_token(
            model=self.policies.candidates[candidate].model,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            custom_cost_per_token={"input_cost_per_token": prices.input_per_token,
                                   "output_cost_per_token": prices.output_per_token})
        return inp + out

    async def chat(self, *, candidate: str, messages: list[dict[str, Any]], params: dict[str, Any],
                   fallbacks: Sequence[str]) -> UpstreamReply:
        """A JSON answer: its body (``model`` = the answering candidate) and typed result."""
        started = time.perf_counter()
        response = await self.complete(candidate=candidate, messages=messages, params=params,
                                       fallbacks=fallbacks, stream=False)
        answered = answered_by(response, candidate)
        body = response.model_dump(exclude_none=True)
        body["model"] = answered
        acc = Answer()
        choice = (body.get("choices") or [{}])[0]
        acc.add(choice.get("message") or {}, choice.get("finish_reason"))
        return UpstreamReply(body, acc.result(self.cost, answered, candidate, started, body.get("usage")))

    async def embed(self, *, candidate: str, params: dict[str, Any]) -> UpstreamReply:
        """Embeddings from one candidate (no fallbacks): the list object and the typed result."""
        self._check_key(candidate)
        started = time.perf_counter()
        try:
            response = await self.router.aembedding(model=candidate, **params)
        except upstream_errors() as exc:
            raise to_gateway_error(exc, self.secrets) from exc
        body = response.model_dump(exclude_none=True)
        body["model"] = candidate
        usage = {"prompt_tokens": (body.get("usage") or {}).get("prompt_tokens") or 0, "completion_tokens": 0}
        return UpstreamReply(body, Answer().result(self.cost, candidate, candidate, started, usage))

    async def chat_stream(self, *, candidate: str, messages: list[dict[str, Any]], params: dict[str, Any],
                          fallbacks: Sequence[str]) -> UpstreamStream:
        """A stream; failures before the first chunk raise GatewayError here."""
        started = time.perf_counter()
        chunks = await self.complete(candidate=candidate, messages=messages, params=params,
                                     fallbacks=fallbacks, stream=True)
        return UpstreamStream(chunks, answered_by(chunks, candidate), candidate, started, cost=self.cost,
                              to_error=lambda exc: to_gateway_error(exc, self.secrets))


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


def count_text_tokens(text: str) -> int:
    """Tokens of an answer's text by LiteLLM's default tokenizer (a stream closed early)."""
    return litellm_module().token_counter(text=text) if text else 0


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


_AUTH_VALUE = re.compile(r"(?i)\b(authorization|api[-_ ]?key|x-api-key)(['\"]?\s*[:=]\s*['\"]?)(bearer\s+|basic\s+)?[^\s'\",;&]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\",;&]+")
# Key-shaped tokens: a provider prefix and a long tail (sk-..., sk-proj-..., nim-..., nvapi-...,
# gsk_..., xai-..., hf_..., ghp_..., AKIA..., AIza...), JWTs, and long runs mixing letters and digits.
_KEY_SHAPED = re.compile(
    r"\b(?:sk|pk|rk|nim|nvapi|gsk|xai|hf|ghp|gho|ghs|glpat|key|api|token)[-_][A-Za-z0-9_\-*]{6,}"
    r"|\bAKIA[0-9A-Z]{12,}|\bAIza[0-9A-Za-z_\-]{20,}|\beyJ[\w-]+\.[\w-]+\.[\w-]+"
    r"|\b(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{24,}\b")
REDACTED = "[redacted]"


def scrub(message: str, secrets: Sequence[str] = ()) -> str:
    """``message`` without any of ``secrets`` (the candidates' API keys), Authorization and API-key
    values, or key-shaped tokens."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        message = message.replace(secret, REDACTED)
    message = _AUTH_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, message)
    message = _BEARER.sub(lambda m: m.group(1) + " " + REDACTED, message)
    return _KEY_SHAPED.sub(REDACTED, message)


def provider_error_type(exc: Exception) -> str:
    """The provider's error type when the exception carries one, else its class in snake case
    (``AuthenticationError`` -> ``authentication_error``)."""
    found = getattr(exc, "type", None)
    if isinstance(found, str) and found:
        return found[:64]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def to_gateway_error(exc: Exception, secrets: Sequence[str] = ()) -> GatewayError:
    """The client's (and the decision row's) error: the upstream's HTTP status and error type, and
    its message scrubbed of secrets (:func:`scrub`)."""
    litellm = litellm_module()
    status = getattr(exc, "status_code", None)
    head = f"Upstream error ({'HTTP ' + str(status) + ', ' if isinstance(status, int) else ''}" \
           f"{provider_error_type(exc)}): "
    message = head + scrub(str(exc), secrets)
    if isinstance(exc, litellm.Timeout):
        return GatewayError(504, message, type="upstream_error", code="upstream_timeout")
    if isinstance(exc, litellm.ContextWindowExceededError):
        return GatewayError(400, message, type="invalid_request_error", code="context_length_exceeded")
    if isinstance(exc, litellm.BadRequestError):
        return GatewayError(400, message, type="invalid_request_error", code="upstream_bad_request")
    if isinstance(exc, litellm.RateLimitError):
        return GatewayError(429, message, type="upstream_error", code="upstream_rate_limited")
    return GatewayError(502, message, type="upstream_error", code="upstream_error")
