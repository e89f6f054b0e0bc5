"""Bounded thread pools that keep database work and V0 scoring apart.

Blocking database calls (decision writer, profile/key poll, admin, feedback) run on the *db*
pool and CPU-bound scoring on the *scoring* pool, never on asyncio's default pool. A database
partition can then hold at most ``V0_DB_THREADS`` threads, and the chat path, which needs only
the scoring pool, keeps serving at its normal latency.

Routes call :func:`run_db` / :func:`run_scoring` with the request (or the app); the lifespan
creates the pools (:class:`Executors`) on ``app.state.executors`` and shuts them down.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from router.protocol import GatewayError

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Executors:
    db: ThreadPoolExecutor
    scoring: ThreadPoolExecutor

    @classmethod
    def create(cls, *, db_threads: int, scoring_threads: int) -> "Executors":
        return cls(ThreadPoolExecutor(db_threads, thread_name_prefix="v0-db"),
                   ThreadPoolExecutor(scoring_threads, thread_name_prefix="v0-score"))

    def shutdown(self) -> None:
        # Threads stuck on a dead database socket are not waited for (their watchdog ends them).
        self.db.shutdown(wait=False, cancel_futures=True)
        self.scoring.shutdown(wait=False, cancel_futures=True)


def executors_of(owner: Any) -> Executors:
    """The pools of an app, a request (``request.app``) or anything with ``.app.state``."""
    app = getattr(owner, "app", owner)
    return app.state.executors


async def _run(pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, call)


DB_DEADLINES = 2  # a call's deadline, in V0_DB_TIMEOUT_S: waiting for a pool thread, then the call


async def run_db(owner: Any, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``await run_db(request, fn, *args)``: run blocking database work on the db pool. A call that
    has not ended within ``DB_DEADLINES`` x ``V0_DB_TIMEOUT_S`` (a partition: every pool thread
    waits on a dead socket), or that fails to reach the database, is a 503 ``database_unavailable``
    (the driver's text, which names hosts, stays in the log and /admin/status)."""
    from sqlalchemy import exc as sa_exc

    app = getattr(owner, "app", owner)
    limit = DB_DEADLINES * app.state.settings.db_timeout_s
    try:
        return await asyncio.wait_for(_run(executors_of(owner).db, fn, *args, **kwargs), limit)
    except (TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
        log.warning("database call failed: %s", exc)
        raise GatewayError(503, "The database is unavailable; retry later.", type="service_unavailable",
                           code="database_unavailable") from exc


async def run_scoring(owner: Any, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``await run_scoring(request, fn, *args)``: run V0 scoring on the scoring pool."""
    return await _run(executors_of(owner).scoring, fn, *args, **kwargs)
