"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from router.api.deps import EngineDep, WatcherDep, WriterDep
from router.protocol import GatewayError
from router.store.db import ping

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(engine: EngineDep, writer: WriterDep, watcher: WatcherDep) -> dict[str, object]:
    try:
        await asyncio.wait_for(asyncio.to_thread(ping, engine), timeout=5)
    except Exception as exc:
        raise GatewayError(503, f"Database unreachable: {exc}", type="service_unavailable",
                           code="database_unreachable") from exc
    return {"status": "ready", "database": "ok", "pending_decisions": writer.pending,
            "dropped_decisions": writer.dropped, "policies_error": watcher.last_error}
