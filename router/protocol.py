"""OpenAI chat-completions wire types and the one error envelope.

Requests are typed; fields we do not model are allowed (``extra="allow"``) and passed upstream
unchanged. Fields that the OpenAI spec lacks are marked ``# V0 extension`` where declared.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Open):
    include_usage: bool | None = None


class ChatCompletionRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = None
    # V0 extension (not in the OpenAI spec; SDKs send it with extra_body): this request's
    # P(success) threshold, overriding the policy's. Never forwarded upstream.
    v0_threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)

    def upstream_params(self) -> dict[str, Any]:
        """Every parameter to forward, except ``model``/``messages``/``stream*`` (set by the caller)
        and the V0 extensions."""
        return self.model_dump(exclude_none=True,
                               exclude={"model", "messages", "stream", "stream_options", "v0_threshold"})

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
    kind: Literal["candidate", "policy"]  # V0 extension: routable policy or plain candidate


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

    def response(self) -> ErrorResponse:
        return ErrorResponse(error=self.body)


class FeedbackRequest(BaseModel):
    """POST /v1/feedback (V0 endpoint)."""

    model_config = ConfigDict(extra="forbid")
    decision_id: str = Field(min_length=1, max_length=64)
    score: float = Field(ge=0, le=1, allow_inf_nan=False)


class FeedbackResponse(BaseModel):
    decision_id: str
    score: float
    model: str  # the profile the (routing text, score) row went to: the model that answered
    profile_version: int  # that profile's version after the change


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
