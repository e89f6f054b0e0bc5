"""Dependencies: everything routes need comes from ``app.state`` (set by the lifespan)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Request
from pydantic import ValidationError
from sqlalchemy import Engine

from router.protocol import ChatCompletionRequest, GatewayError
from router.runtime import PolicyWatcher, Runtime
from router.scoring import message_text
from router.settings import Settings
from router.store.writer import DecisionWriter


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_runtime(request: Request) -> Runtime:
    return request.app.state.watcher.runtime


def get_watcher(request: Request) -> PolicyWatcher:
    return request.app.state.watcher


def get_writer(request: Request) -> DecisionWriter:
    return request.app.state.writer


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
WatcherDep = Annotated[PolicyWatcher, Depends(get_watcher)]
WriterDep = Annotated[DecisionWriter, Depends(get_writer)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def require_client_key(request: Request, settings: SettingsDep) -> None:
    keys = settings.client_key_set
    if not keys:
        return
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or token.strip() not in keys:
        raise GatewayError(401, "Invalid or missing API key (Authorization: Bearer <key>).",
                           type="authentication_error", code="invalid_api_key")


ClientKeyDep = Annotated[None, Depends(require_client_key)]


async def read_chat_request(request: Request, settings: SettingsDep) -> ChatCompletionRequest:
    """The typed request: size limit (413), UTF-8 (400), JSON (400), schema (400), empty prompt (400)."""
    limit = settings.max_body_bytes
    too_big = GatewayError(413, f"Request body exceeds {limit} bytes.", param=None,
                           code="request_too_large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > 8 * limit:
        raise too_big
    body = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            body += chunk
        elif size > 8 * limit:
            break  # stop draining a huge body
    if size > limit:
        raise too_big
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GatewayError(400, f"Request body is not valid UTF-8 (byte {exc.start}).",
                           code="invalid_encoding") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GatewayError(400, f"Malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
                           code="invalid_json") from exc
    if not isinstance(data, dict):
        raise GatewayError(400, "Request body must be a JSON object.", code="invalid_request")
    try:
        req = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc
    if not any(message_text(m).strip() for m in req.messages):
        raise GatewayError(400, "The prompt is empty: no message has any text.", param="messages",
                           code="empty_prompt")
    return req


def validation_error(exc: ValidationError) -> GatewayError:
    err = exc.errors()[0]
    param = ".".join(str(p) for p in err["loc"]) or None
    return GatewayError(400, f"{param}: {err['msg']}" if param else err["msg"], param=param,
                        code="invalid_value" if err["type"] != "missing" else "missing_required_parameter")


ChatRequestDep = Annotated[ChatCompletionRequest, Depends(read_chat_request)]
