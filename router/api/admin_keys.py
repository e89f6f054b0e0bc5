"""Admin API for client keys (bearer V0_ADMIN_KEY; off without it: 404).

POST   /admin/keys {"name"}  create: the plaintext key is in this response only (201)
GET    /admin/keys           list (never the key itself)
DELETE /admin/keys/{id}      revoke (the row stays, marked revoked)

Keys are stored as sha256. Once any key exists, clients must send one (Authorization: Bearer).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlmodel import Session

from router.api.deps import EngineDep, KeysDep, json_body, require_admin
from router.api.openapi import request_body
from router.keys import SHOWN_PREFIX, hash_key, new_key
from router.protocol import GatewayError
from router.store import key_crud
from router.store.key_models import ClientKeyCreate, ClientKeyCreated, ClientKeyPublic

router = APIRouter(prefix="/admin/keys", dependencies=[Depends(require_admin)])


@router.post("", status_code=201, openapi_extra=request_body(ClientKeyCreate))
async def create_key(body: Annotated[ClientKeyCreate, json_body(ClientKeyCreate)], engine: EngineDep, keys: KeysDep) -> ClientKeyCreated:
    plaintext = new_key()

    def write() -> ClientKeyCreated:
        with Session(engine) as session:
            row = key_crud.create_key(session=session, name=body.name, prefix=plaintext[:SHOWN_PREFIX],
                                      key_hash=hash_key(plaintext))
            return ClientKeyCreated(**ClientKeyPublic.model_validate(row).model_dump(), key=plaintext)

    created = await asyncio.to_thread(write)
    await asyncio.to_thread(keys.refresh)
    return created


@router.get("")
async def list_keys(engine: EngineDep) -> list[ClientKeyPublic]:
    def read() -> list[ClientKeyPublic]:
        with Session(engine) as session:
            return [ClientKeyPublic.model_validate(k) for k in key_crud.list_keys(session=session)]

    return await asyncio.to_thread(read)


@router.delete("/{key_id}")
async def revoke_key(key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], engine: EngineDep, keys: KeysDep) -> ClientKeyPublic:
    def write() -> ClientKeyPublic | None:
        with Session(engine) as session:
            key = key_crud.get_key(session=session, key_id=key_id)
            return None if key is None else ClientKeyPublic.model_validate(key_crud.revoke_key(session=session, key=key))

    revoked = await asyncio.to_thread(write)
    if revoked is None:
        raise GatewayError(404, f"No client key {key_id}.", param="key_id", code="key_not_found")
    await asyncio.to_thread(keys.refresh)
    return revoked
