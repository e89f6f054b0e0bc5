"""The OpenAPI document says what the API really does: request bodies are read by the edge checks
(``router/api/body.py``), not by FastAPI, so routes declare them with :func:`request_body`; every
refusal is a 400 in OpenAI's error envelope, never FastAPI's 422."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from router.protocol import ErrorResponse

_REF = "#/components/schemas/{model}"


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is ``model``."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": _REF.format(model=model.__name__)}}}}}


def install_openapi(app: FastAPI, bodies: Sequence[type[BaseModel]]) -> None:
    """Build the document once, on first request, with ``bodies`` and the error envelope as components."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        _, defs = models_json_schema([(m, "validation") for m in (*bodies, ErrorResponse)], ref_template=_REF)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas.update(defs.get("$defs", {}))
        error = {"description": "Refused: OpenAI's error envelope",
                 "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}}}
        for operations in doc.get("paths", {}).values():
            for op in operations.values():
                op["responses"].pop("422", None)
                op["responses"].setdefault("400", error)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
