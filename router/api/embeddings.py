"""POST /v1/embeddings: a pass-through to a named embedding candidate (never routed), through the
serving path (router/serving/embeddings.py): keys, limits, cost and a decision row."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from router.api.deps import ServingDep, SettingsDep, json_body_of
from router.api.openapi import request_body
from router.serving.embeddings import serve_embeddings

router = APIRouter(prefix="/v1")


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # undeclared fields: refused unless the candidate allows them

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] | list[int] | list[list[int]] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, max_length=256)


@router.post("/embeddings", response_model=None, openapi_extra=request_body(EmbeddingRequest))
async def embeddings(request: Request, settings: SettingsDep, ctx: ServingDep) -> JSONResponse:
    req = await json_body_of(request, settings, EmbeddingRequest)
    extras = sorted(req.model_extra or {})
    params: dict[str, Any] = req.model_dump(exclude_none=True, exclude={"model"})
    served = await serve_embeddings(ctx, model=req.model, params=params, extras=extras)
    return JSONResponse(served.body, headers=served.headers)
