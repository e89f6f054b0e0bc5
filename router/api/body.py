"""Request bodies at the edge: size, read time, UTF-8, JSON, nesting depth and text.

Everything a client sends is checked here once, so nothing past validation fails on the content of
a string: text must be valid Unicode without lone surrogates (``"\\ud800"`` is valid JSON but not
encodable as UTF-8) and without NUL characters (PostgreSQL's text type refuses them), and JSON
may nest at most ``MAX_DEPTH`` levels. Every refusal is a 4xx in OpenAI's envelope.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from router.protocol import GatewayError, text_problem, validation_error

MAX_DEPTH = 32
Model = TypeVar("Model", bound=BaseModel)


async def read_body(request: Request, limit: int, *, timeout_s: float) -> bytes:
    """The raw body: 413 beyond ``limit`` bytes (a huge body is not drained), 408 when the client
    has not sent it all within ``timeout_s`` seconds (a slow client cannot hold a connection)."""
    too_big = GatewayError(413, f"Request body exceeds {limit} bytes.", code="request_too_large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > 8 * limit:
        raise too_big
    body = bytearray()
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size <= limit:
                    body += chunk
                elif size > 8 * limit:
                    break  # stop draining a huge body
    except TimeoutError:
        raise GatewayError(408, f"The request body was not received within {timeout_s:g} s.",
                           code="request_timeout") from None
    if size > limit:
        raise too_big
    return bytes(body)


def check_value(value: Any, path: str = "") -> None:
    """Walk a parsed JSON value: nesting depth and every string (keys included); 400 on the first
    problem, naming where it is."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise GatewayError(400, f"JSON nested deeper than {MAX_DEPTH} levels.", param=where or None,
                               code="too_deeply_nested")
        if isinstance(node, str):
            if problem := text_problem(node):
                raise GatewayError(400, f"{where or 'body'}: text {problem}.", param=where or None,
                                   code="invalid_text")
        elif isinstance(node, dict):
            for key, item in node.items():
                child = f"{where}.{key}" if where else str(key)
                if problem := text_problem(key):
                    raise GatewayError(400, f"{where or 'body'}: a key {problem}.", param=where or None,
                                       code="invalid_text")
                stack.append((item, child, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{where}.{i}" if where else str(i), depth + 1) for i, item in enumerate(node))


def parse_json(body: bytes) -> Any:
    """Decode and parse a JSON body, then check it (``check_value``)."""
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
    except RecursionError:
        raise GatewayError(400, f"JSON nested deeper than {MAX_DEPTH} levels.",
                           code="too_deeply_nested") from None
    check_value(data)
    return data


def parse_model(body: bytes, model: type[Model]) -> Model:
    """A JSON object body validated as ``model`` (400 with the first error otherwise)."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise GatewayError(400, "Request body must be a JSON object.", code="invalid_request")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc
