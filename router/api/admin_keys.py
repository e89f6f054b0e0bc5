"""Admin API for client keys (bearer V0_ADMIN_KEY; off without it: 404).

POST   /admin/keys {"name"}  create: the plaintext key is in this response only (201)
GET    /admin/keys           list (never the key itself)
DELETE /admin/keys/{id}      revoke (the row stays, marked revoked)

Keys are stored as sha256. Once any key exists, clients must send one (Authorization: Bearer).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from router.api.deps import DbDep, KeysDep, json_body, require_admin
from router.api.openapi import request_body
from router.keys import SHOWN_PREFIX, hash_key, new_key
from router.protocol import GatewayError
from router.store import key_crud
from router.store.key_models import ClientKeyCreate, ClientKeyCreated, ClientKeyPublic

router = APIRouter(prefix="/admin/keys", dependencies=[Depends(require_admin)])


@router.post("", status_code=201, openapi_extra=request_body(ClientKeyCreate))
async def create_key(body: Annotated[ClientKeyCreate, json_body(ClientKeyCreate)], db: DbDep,
                     keys: KeysDep) -> ClientKeyCreated:
    plaintext = new_key()
    row = await db(key_crud.create_key, name=body.name, prefix=plaintext[:SHOWN_PREFIX], key_hash=hash_key(plaintext))
    await db.run(keys.refresh)
    return ClientKeyCreated(**ClientKeyPublic.model_validate(row).model_dump(), key=plaintext)


@router.get("")
async def list_keys(db: DbDep) -> list[ClientKeyPublic]:
    return [ClientKeyPublic.model_validate(k) for k in await db(key_crud.list_keys)]


@router.delete("/{key_id}")
async def revoke_key(key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], db: DbDep, keys: KeysDep) -> ClientKeyPublic:
    revoked = await db(key_crud.revoke_key, key_id=key_id)
    if revoked is None:
        raise GatewayError(404, f"No client key {key_id}.", param="key_id", code="key_not_found")
    await db.run(keys.refresh)
    return ClientKeyPublic.model_validate(revoked)
