"""Admin API for profiles (bearer V0_ADMIN_KEY; off without it: 404).

GET    /admin/profiles                          every model: rows, active rows, version, mean score, last update
POST   /admin/profiles/{model}?mode=append|replace   upload JSONL or CSV (prompt, score)
GET    /admin/profiles/{model}?format=jsonl|csv  download every row, oldest first
DELETE /admin/profiles/{model}                  delete the whole profile
POST   /admin/profiles/{model}/delete           {"ids": [...]}: delete those rows (all must exist)

Uploads are validated as a whole before anything is written; the model must be a candidate in
the policies. Every change bumps the model's version and is routable on this replica when the
call returns (other replicas: within their poll interval plus the encoding of new rows).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from router.api.body import read_body
from router.api.deps import DbDep, ProfilesDep, RuntimeDep, SettingsDep, json_body, require_admin
from router.api.openapi import request_body
from router.profiles.upload import guess_format, parse_upload
from router.protocol import GatewayError
from router.runtime import Runtime
from router.store import profile_crud
from router.store.profile_models import ProfileRowPublic, ProfileSummary

router = APIRouter(prefix="/admin/profiles", dependencies=[Depends(require_admin)])


class ProfileChange(BaseModel):
    model: str
    mode: str  # "append" | "replace" | "delete"
    rows: int  # rows written or deleted
    version: int  # the profile's version after the change


class DeleteRows(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1)


# A candidate name in the path: bounded, no NUL (the database's text type refuses it).
ModelName = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]


def window_sizes(runtime: Runtime) -> dict[str, int]:
    """Per candidate, the largest profile_size among the policies that use it."""
    sizes: dict[str, int] = {}
    for policy in runtime.policies.policies.values():
        for c in policy.candidates:
            sizes[c] = max(sizes.get(c, 0), policy.profile_size)
    return sizes


def known_model(runtime: Runtime, model: str) -> str:
    if model not in runtime.policies.candidates:
        raise GatewayError(404, f"Unknown model {model!r}: not a candidate in the policies.",
                           param="model", code="model_not_found")
    return model


@router.get("")
async def list_profiles(db: DbDep, runtime: RuntimeDep) -> list[ProfileSummary]:
    return await db(profile_crud.summaries, window_sizes=window_sizes(runtime))


@router.post("/{model}", status_code=201)
async def upload(model: ModelName, request: Request, runtime: RuntimeDep, settings: SettingsDep,
                 profiles: ProfilesDep,
                 mode: Annotated[Literal["append", "replace"], Query()] = "append",
                 format: Annotated[Literal["jsonl", "csv"] | None, Query()] = None) -> ProfileChange:
    known_model(runtime, model)
    data = await read_body(request, settings.max_upload_bytes, timeout_s=settings.body_read_timeout_s)
    fmt = format or guess_format(request.headers.get("content-type"), data)
    rows = await asyncio.to_thread(parse_upload, data, fmt=fmt, max_rows=settings.max_upload_rows)
    change = await profiles.upload(model=model, rows=rows, mode=mode)
    return ProfileChange(model=model, mode=mode, rows=change.rows, version=change.version)


@router.get("/{model}", response_model=None)
async def download(model: ModelName, db: DbDep,
                   format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl") -> Response:
    rows = await db(profile_crud.list_rows, model=model)
    if not rows:
        raise GatewayError(404, f"No profile rows for {model!r}.", param="model", code="profile_not_found")
    body = await asyncio.to_thread(render, [ProfileRowPublic.model_validate(r) for r in rows], format)
    return Response(body, media_type="text/csv" if format == "csv" else "application/jsonl")


def render(rows: list[ProfileRowPublic], format: str) -> str:
    """A download: CSV with a header, or one JSON object per line (both upload again as they are)."""
    if format == "jsonl":
        return "".join(json.dumps(r.model_dump(mode="json")) + "\n" for r in rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["prompt", "score", "source", "id", "created_at", "decision_id"])
    for r in rows:
        writer.writerow([r.prompt, r.score, r.source, r.id, r.created_at.isoformat(), r.decision_id or ""])
    return out.getvalue()


@router.delete("/{model}")
async def delete_profile(model: ModelName, profiles: ProfilesDep, db: DbDep) -> ProfileChange:
    if not await db(profile_crud.window, model=model, size=1):
        raise GatewayError(404, f"No profile rows for {model!r}.", param="model", code="profile_not_found")
    change = await profiles.delete(model=model, ids=None)
    return ProfileChange(model=model, mode="delete", rows=change.rows, version=change.version)


@router.post("/{model}/delete", openapi_extra=request_body(DeleteRows))
async def delete_rows(model: ModelName, body: Annotated[DeleteRows, json_body(DeleteRows)], profiles: ProfilesDep) -> ProfileChange:
    change = await profiles.delete(model=model, ids=sorted(set(body.ids)))
    return ProfileChange(model=model, mode="delete", rows=change.rows, version=change.version)
