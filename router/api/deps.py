"""Dependencies: everything routes need comes from ``app.state`` (set by the lifespan)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from router.api.body import Model, parse_model, read_body
from router.keys import Identity, KeysUnavailable, KeyTable
from router.profiles.service import ProfileService
from router.protocol import ChatCompletionRequest, GatewayError
from router.runtime import PolicyWatcher, Runtime
from router.scoring import message_text
from router.scoring.guard import ScoringGuard
from router.serving import Context, admit
from router.settings import Settings
from router.store.executor import run_db
from router.store.writer import DecisionWriter

T = TypeVar("T")

THRESHOLD_HEADER = "x-v0-threshold"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_runtime(request: Request) -> Runtime:
    return request.app.state.watcher.runtime


def get_watcher(request: Request) -> PolicyWatcher:
    return request.app.state.watcher


def get_writer(request: Request) -> DecisionWriter:
    return request.app.state.writer


def get_scoring_guard(request: Request) -> ScoringGuard:
    return request.app.state.scoring_guard


def get_profiles(request: Request) -> ProfileService:
    return request.app.state.profiles


def get_keys(request: Request) -> KeyTable:
    return request.app.state.keys


class Db:
    """A route's database work: ``await db(crud_fn, **kwargs)`` calls ``crud_fn(session=..., **kwargs)``
    in its own Session on the database pool (never on the event loop or the scoring pool)."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._engine: Engine = request.app.state.engine

    async def __call__(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        def work() -> T:
            with Session(self._engine) as session:
                return fn(session=session, **kwargs)

        return await run_db(self._request, work)

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Other blocking database work (no session of ours), on the same pool."""
        return await run_db(self._request, fn, *args)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Db, Depends(Db)]
GuardDep = Annotated[ScoringGuard, Depends(get_scoring_guard)]
ProfilesDep = Annotated[ProfileService, Depends(get_profiles)]
KeysDep = Annotated[KeyTable, Depends(get_keys)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
WatcherDep = Annotated[PolicyWatcher, Depends(get_watcher)]
WriterDep = Annotated[DecisionWriter, Depends(get_writer)]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_client_key(request: Request, keys: KeysDep) -> Identity:
    """The caller: a key created through the admin API, a V0_CLIENT_KEYS key, or anyone (no keys).
    The key comes as ``Authorization: Bearer <key>`` or (Anthropic's clients) ``x-api-key``."""
    try:
        identity = keys.identify(bearer_token(request) or request.headers.get("x-api-key") or None)
    except KeysUnavailable as exc:
        raise GatewayError(503, f"Cannot authenticate: {exc}.", type="service_unavailable",
                           code="auth_unavailable") from exc
    if identity is None:
        raise GatewayError(401, "Invalid or missing API key (Authorization: Bearer <key>).",
                           type="authentication_error", code="invalid_api_key")
    return identity


ClientKeyDep = Annotated[Identity, Depends(require_client_key)]


def serving_context(request: Request, identity: ClientKeyDep, settings: SettingsDep) -> Context:
    """What the serving path needs for this request (router/serving); admission happens there."""
    state = request.app.state
    return Context(state=state, runtime=state.watcher.runtime, guard=state.scoring_guard, writer=state.writer,
                   settings=settings, identity=identity, received=getattr(request.state, "v0_received", None),
                   disconnected=request.is_disconnected,
                   session=request.headers.get("x-v0-session") or None)


ServingDep = Annotated[Context, Depends(serving_context)]


async def admitted_client(request: Request, identity: ClientKeyDep) -> AsyncIterator[Identity]:
    """The caller of a V0 endpoint (/v1/route, /v1/score, /v1/allocate, /v1/feedback), counted
    against its key's limits before any work (429 past them), settled when the call ends."""
    admission = await admit(request.app.state, identity)
    try:
        yield identity
    finally:
        admission.settle(0, 0.0, "ok")


AdmittedClientDep = Annotated[Identity, Depends(admitted_client)]


def require_admin(request: Request, settings: SettingsDep) -> None:
    """Without V0_ADMIN_KEY the admin API is off: every /admin path answers 404."""
    if not settings.admin_key:
        raise GatewayError(404, "Not found: the admin API is off (set V0_ADMIN_KEY).",
                           type="not_found_error", code="admin_disabled")
    token = bearer_token(request) or ""
    if not hmac.compare_digest(token.encode(), settings.admin_key.encode()):
        raise GatewayError(401, "Invalid or missing admin key (Authorization: Bearer <V0_ADMIN_KEY>).",
                           type="authentication_error", code="invalid_admin_key")


async def read_chat_request(request: Request, settings: SettingsDep) -> ChatCompletionRequest:
    """The typed request: size (413), read time (408), UTF-8, JSON, nesting, text and schema (400),
    empty prompt (400)."""
    return check_prompt(await json_body_of(request, settings, ChatCompletionRequest))


def check_prompt(req: ChatCompletionRequest) -> ChatCompletionRequest:
    """400 when no message has any text (every surface, after its translation to chat)."""
    if not any(message_text(m).strip() for m in req.messages):
        raise GatewayError(400, "The prompt is empty: no message has any text.", param="messages",
                           code="empty_prompt")
    return req


async def json_body_of(request: Request, settings: Settings, model: type[Model]) -> Model:
    """The body as ``model`` through the edge checks (size, read time, UTF-8, JSON, nesting, text)."""
    body = await read_body(request, settings.max_body_bytes, timeout_s=settings.body_read_timeout_s)
    return parse_model(body, model)


def json_body(model: type[Model]) -> Any:
    """A dependency reading the body as ``model`` through the same edge checks as chat requests."""
    async def read(request: Request, settings: SettingsDep) -> Model:
        body = await read_body(request, settings.max_body_bytes, timeout_s=settings.body_read_timeout_s)
        return parse_model(body, model)

    return Depends(read)


ChatRequestDep = Annotated[ChatCompletionRequest, Depends(read_chat_request)]


def request_threshold(request: Request, req: ChatRequestDep) -> float | None:
    """This request's threshold: header ``x-v0-threshold`` (wins) or body ``v0_threshold``."""
    return threshold_for(request, req.v0_threshold)


def threshold_for(request: Request, body_value: float | None) -> float | None:
    """Header ``x-v0-threshold`` (wins, 400 unless a number in [0, 1]) or the body's value."""
    raw = request.headers.get(THRESHOLD_HEADER)
    if raw is None:
        return body_value
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise GatewayError(400, f"{THRESHOLD_HEADER}: must be a number in [0, 1], got {raw!r}.",
                           param=THRESHOLD_HEADER, code="invalid_value")
    return value


ThresholdDep = Annotated[float | None, Depends(request_threshold)]
