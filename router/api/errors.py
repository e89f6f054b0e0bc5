"""Every failure leaves as OpenAI's envelope ``{"error": {message, type, param, code}}``; on the
Anthropic surface (``/v1/messages``) as Anthropic's ``{"type": "error", "error": {type, message}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from router.api.messages_wire import anthropic_error
from router.protocol import ErrorBody, ErrorResponse, GatewayError, validation_error

log = logging.getLogger(__name__)

_HTTP_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
               405: "invalid_request_error", 413: "invalid_request_error"}


ANTHROPIC_PATHS = ("/v1/messages",)


def envelope(status: int, body: ErrorBody, headers: dict[str, str] | None = None,
             request: Request | None = None) -> JSONResponse:
    if request is not None and request.url.path.startswith(ANTHROPIC_PATHS):
        return JSONResponse(anthropic_error(status, body.message), status_code=status, headers=headers)
    return JSONResponse(ErrorResponse(error=body).model_dump(), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway(request: Request, exc: GatewayError) -> JSONResponse:
        return envelope(exc.status, exc.body, exc.headers, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = validation_error(list(exc.errors()), skip=("body",))
        return envelope(err.status, err.body, None, request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return envelope(exc.status_code, ErrorBody(message=str(exc.detail),
                                                   type=_HTTP_TYPES.get(exc.status_code, "api_error")),
                        getattr(exc, "headers", None), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return envelope(500, ErrorBody(message="Internal server error.", type="internal_error"), None, request)
