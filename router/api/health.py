"""Liveness, readiness, and the admin-only view of the database and the decision log.

``/readyz`` answers from memory only (it never touches the database): 200 whenever this
replica can serve requests, the database up or not, with the decision log's state, the
candidates that have no profile yet and where per-key limits are counted (``limits``: ``redis``,
``local``, or ``local-fallback`` while Redis is unreachable) beside it.
Internals (database errors, which carry hosts and driver text) are only in ``/admin/status``.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from router.api.deps import WatcherDep, WriterDep, require_admin
from router.store.db import DbStatus

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database(status: DbStatus) -> str:
    return {True: "reachable", False: "unreachable", None: "unknown"}[status.reachable]


@router.get("/readyz")
async def readyz(request: Request, writer: WriterDep, watcher: WatcherDep) -> dict[str, Any]:
    status: DbStatus = request.app.state.db_status
    scorer = request.app.state.scorer
    return {"status": "ready",
            "decision_log": {"database": _database(status), "pending": writer.pending,
                             "dropped": writer.dropped, "quarantined": writer.quarantined},
            "limits": request.app.state.limiter.backend,
            "policies_error": watcher.last_error,
            # Candidates routed on a cold-start P: no profile yet (`v0-gateway profile build`).
            "unprofiled_candidates": scorer.unprofiled() if scorer is not None else []}


def resident_mib() -> float | None:
    """This process's resident memory (Linux /proc), MiB; None elsewhere."""
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return None
    return round(kib / 1024, 1)


@router.get("/admin/status")
async def admin_status(_: Annotated[None, Depends(require_admin)], request: Request,
                       writer: WriterDep) -> dict[str, Any]:
    state = request.app.state
    status: DbStatus = state.db_status
    scorer = state.scorer
    return {
        "database": {"state": _database(status), "since_s": round(time.time() - status.since, 3),
                     "last_error": status.last_error},
        "decision_log": {"pending": writer.pending, "written": writer.written, "dropped": writer.dropped,
                         "quarantined": writer.quarantined, "failures": writer.failures,
                         "replayed": writer.replayed, "spool_errors": writer.spool_errors,
                         "spool": str(writer.spool_dir) if writer.spool_dir else None},
        "profiles": {"source": scorer.source if scorer is not None else "stand-in",
                     "unprofiled": scorer.unprofiled() if scorer is not None else []},
        "grading": state.grading.status(),
        "process": {"pid": os.getpid(),  # the worker that answered (serve --workers N)
                    "torch_loaded": "torch" in sys.modules,  # serving on CPU never imports torch
                    "v0_runtime": type(scorer.v0).__name__ if scorer is not None else None,
                    "rss_mib": resident_mib(),  # this worker's resident memory
                    "gc_frozen_objects": gc.get_freeze_count()},  # start-up objects the collector skips
    }
