"""Admin API for client keys (bearer V0_ADMIN_KEY; off without it: 404).

POST   /admin/keys {"name", "rpm"?, "tpm"?, "max_budget_usd"?, "budget_period"?}
                            create: the plaintext key is in this response only (201)
GET    /admin/keys          list with each key's spend in its budget period (never the key itself)
PATCH  /admin/keys/{id}     change the name or limits (null removes a limit)
DELETE /admin/keys/{id}     revoke (the row stays, marked revoked)

Keys are stored as sha256. Once any key exists, clients must send one (Authorization: Bearer).
Limits apply on this replica when the call returns, on the others within their poll interval.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sqlmodel import Session

from router.api.deps import Db, DbDep, json_body, require_admin
from router.api.openapi import request_body
from router.keys import SHOWN_PREFIX, hash_key, new_key
from router.limits import period_start
from router.protocol import GatewayError
from router.store import key_crud, usage_crud
from router.store.key_models import ClientKeyCreate, ClientKeyCreated, ClientKeyPublic, ClientKeyUpdate

router = APIRouter(prefix="/admin/keys", dependencies=[Depends(require_admin)])


KeyId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", status_code=201, openapi_extra=request_body(ClientKeyCreate))
async def create_key(body: Annotated[ClientKeyCreate, json_body(ClientKeyCreate)], db: DbDep,
                     request: Request) -> ClientKeyCreated:
    plaintext = new_key()
    row = await db(key_crud.create_key, prefix=plaintext[:SHOWN_PREFIX], key_hash=hash_key(plaintext),
                   **body.model_dump())
    await _reload(db, request)
    return ClientKeyCreated(**ClientKeyPublic.model_validate(row).model_dump(), key=plaintext)


@router.get("")
async def list_keys(db: DbDep) -> list[ClientKeyPublic]:
    return await db(_with_spend)


@router.patch("/{key_id}", openapi_extra=request_body(ClientKeyUpdate))
async def update_key(key_id: KeyId, body: Annotated[ClientKeyUpdate, json_body(ClientKeyUpdate)], db: DbDep,
                     request: Request) -> ClientKeyPublic:
    changes = body.model_dump(include=body.model_fields_set)
    if changes.get("name", "") is None:
        raise GatewayError(400, "name: cannot be removed.", param="name", code="invalid_value")
    updated = await db(key_crud.update_key, key_id=key_id, changes=changes)
    if updated is None:
        raise GatewayError(404, f"No client key {key_id}.", param="key_id", code="key_not_found")
    await _reload(db, request)
    return next(k for k in await db(_with_spend) if k.id == key_id)


@router.delete("/{key_id}")
async def revoke_key(key_id: KeyId, db: DbDep, request: Request) -> ClientKeyPublic:
    revoked = await db(key_crud.revoke_key, key_id=key_id)
    if revoked is None:
        raise GatewayError(404, f"No client key {key_id}.", param="key_id", code="key_not_found")
    await _reload(db, request)
    return ClientKeyPublic.model_validate(revoked)


def _with_spend(*, session: Session) -> list[ClientKeyPublic]:
    keys = key_crud.list_keys(session=session)
    now = datetime.now(UTC)
    spent = usage_crud.spend(session=session, since={k.id: period_start(k.budget_period, now) for k in keys})
    return [ClientKeyPublic.model_validate(k, update={"spend_usd": spent[k.id]}) for k in keys]


async def _reload(db: Db, request: Request) -> None:
    """This replica applies the change at once (the key table and the limits)."""
    await db.run(request.app.state.keys.refresh)
    await db.run(request.app.state.limiter.refresh)
