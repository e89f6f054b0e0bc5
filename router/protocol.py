"""OpenAI chat-completions wire types and the one error envelope.

Requests are typed. The client chooses a model, messages and the OpenAI chat parameters declared
here; it never chooses where or how the gateway calls an upstream. A top-level field that is not
declared is kept aside (``model_extra``) and refused by the plan unless every candidate the request
can reach lists it in ``extra_params`` (policies.yaml); LiteLLM's call controls (``api_base``,
``api_key``, ``fallbacks``, ``mock_response``, ...) can never be listed. Message objects stay open
(fields such as ``refusal`` or ``annotations`` come back from earlier answers); they are content,
not call controls. Fields that the OpenAI spec lacks are marked ``# V0 extension`` where declared.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored or scored (None when it can): a NUL (PostgreSQL's text type
    refuses it) or a lone UTF-16 surrogate (valid in JSON, not encodable as UTF-8)."""
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "contains a lone UTF-16 surrogate"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


IMAGE_DETAILS = ("auto", "low", "high")
# Content part type -> the fields it must carry, each with the type that field must have.
_PART_FIELDS: dict[str, dict[str, type]] = {
    "text": {"text": str}, "refusal": {"refusal": str}, "image_url": {"image_url": dict},
    "input_audio": {"input_audio": dict}, "file": {"file": dict},
}


def content_part_problem(part: Any) -> str | None:
    """Why ``part`` is not an OpenAI chat content part (None when it is): a known ``type`` whose
    fields have the right shape (an image's ``url`` a string, its ``detail`` auto/low/high)."""
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        return "each content part must be an object with a string 'type'"
    fields = _PART_FIELDS.get(part["type"])
    if fields is None:
        return f"unsupported content part type {part['type'][:40]!r} (one of {', '.join(_PART_FIELDS)})"
    for name, kind in fields.items():
        if not isinstance(part.get(name), kind):
            return f"a {part['type']!r} part needs {name!r} as {'a string' if kind is str else 'an object'}"
    image = part.get("image_url")
    if isinstance(image, dict):
        if not isinstance(image.get("url"), str):
            return "image_url.url must be a string"
        if image.get("detail") is not None and image["detail"] not in IMAGE_DETAILS:
            return "image_url.detail must be one of auto, low, high"
    return None


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("content")
    @classmethod
    def _parts(cls, content: Any) -> Any:
        for part in content if isinstance(content, list) else ():
            problem = content_part_problem(part)
            if problem:
                raise ValueError(problem)
        return content

    @field_validator("tool_calls")
    @classmethod
    def _tool_calls(cls, calls: Any) -> Any:
        for call in calls or ():
            fn = call.get("function")
            if not (isinstance(fn, dict) and isinstance(fn.get("name"), str)
                    and isinstance(fn.get("arguments"), str)):
                raise ValueError("each tool call needs 'function' with a string 'name' and string 'arguments'")
        return calls


class StreamOptions(_Open):
    include_usage: bool | None = None


def _number(lo: float, hi: float) -> Any:
    """A finite number in [lo, hi] (JSON's 1e309 parses as infinity, ``NaN`` as NaN: both refused)."""
    return Field(default=None, ge=lo, le=hi, allow_inf_nan=False)


class ChatCompletionRequest(_Open):
    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = _number(0, 2)
    top_p: float | None = _number(0, 1)
    n: int | None = Field(default=None, ge=1, le=128)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = _number(-2, 2)
    frequency_penalty: float | None = _number(-2, 2)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None  # deprecated by OpenAI in favour of tools
    function_call: str | dict[str, Any] | None = None  # deprecated by OpenAI in favour of tool_choice
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = Field(default=None, max_length=256)
    reasoning_effort: str | None = Field(default=None, max_length=32)
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    service_tier: str | None = Field(default=None, max_length=32)
    verbosity: str | None = Field(default=None, max_length=32)
    web_search_options: dict[str, Any] | None = None
    store: bool | None = None
    # Accepted but never forwarded: LiteLLM reads a ``metadata`` argument as its own call data.
    metadata: dict[str, str] | None = None
    # V0 extension (not in the OpenAI spec; SDKs send it with extra_body): this request's
    # P(success) threshold, overriding the policy's. Never forwarded upstream.
    v0_threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)

    def extra_fields(self) -> list[str]:
        """Top-level fields the request sent that are not declared above (refused unless allowed)."""
        return sorted(self.model_extra or {})

    def upstream_params(self, allowed_extra: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The declared OpenAI parameters the client set, plus the extra fields in ``allowed_extra``.
        ``model``/``messages``/``stream*`` are set by the caller; V0 extensions and ``metadata``
        never leave the gateway."""
        params = self.model_dump(exclude_none=True, exclude={
            "model", "messages", "stream", "stream_options", "v0_threshold", "metadata",
            *(self.model_extra or {})})
        params.update({k: v for k, v in (self.model_extra or {}).items() if k in allowed_extra})
        return params

    def upstream_messages(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in self.messages]


class Usage(_Open):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletionResponse(_Open):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: Usage | None = None


class ModelCard(_Open):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str
    kind: Literal["candidate", "policy", "alias"]  # V0 extension: routable policy, plain candidate, or an alias
    alias_of: str | None = None  # V0 extension, aliases only: the policy or candidate it stands for


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class GatewayError(Exception):
    """Any failure answered to a client; rendered as :class:`ErrorResponse` with ``status``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(message=message, type=type, param=param, code=code)
        self.headers: dict[str, str] | None = None  # e.g. retry-after on a 429



def validation_error(errors: Any, *, skip: tuple[str, ...] = ()) -> GatewayError:
    """The one mapping of validation errors (pydantic's ``ValidationError`` or the list FastAPI
    collects) to a 400: the first error, its location as ``param``, and a code: ``missing_required_
    parameter``, ``unsupported_parameter`` (a field the schema forbids) or ``invalid_value``."""
    found = errors.errors() if hasattr(errors, "errors") else errors
    err = found[0] if found else {"loc": (), "msg": "invalid request", "type": "value_error"}
    param = ".".join(str(p) for p in err["loc"] if p not in skip) or None
    code = {"missing": "missing_required_parameter",
            "extra_forbidden": "unsupported_parameter"}.get(err["type"], "invalid_value")
    return GatewayError(400, f"{param}: {err['msg']}" if param else err["msg"], param=param, code=code)


class FeedbackRequest(BaseModel):
    """POST /v1/feedback (V0 endpoint)."""

    model_config = ConfigDict(extra="forbid")
    decision_id: str = Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")  # printable ASCII
    score: float = Field(ge=0, le=1, allow_inf_nan=False)


class FeedbackResponse(BaseModel):
    decision_id: str
    score: float
    model: str  # the profile the (routing text, score) row went to: the model that answered
    profile_version: int  # that profile's version after the change
    # V0 extension: False when the key is not in the policies file's feedback.trusted_keys (the
    # grade is kept on the decision only; the profile and its version are unchanged)
    in_profile: bool = True


class RouteCandidate(BaseModel):
    name: str
    p_success: float
    expected_cost: float  # USD
    clears_threshold: bool
    profile_version: int  # 0: no profile


class RouteResponse(BaseModel):
    """POST /v1/route (V0 endpoint): the decision, without calling any model or logging a row."""

    object: str = "route.decision"
    requested_model: str
    policy: str | None  # None: a candidate named directly (not routed)
    strategy: str | None
    threshold: float | None  # the one applied (the request's override, else the policy's)
    chosen: str
    reason: str
    fallbacks: list[str]
    prompt_tokens: int | None
    candidates: list[RouteCandidate]  # every candidate, in policy order
