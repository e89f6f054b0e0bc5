"""`v0-gateway serve`: run the gateway with uvicorn (default 127.0.0.1:8000).

``--workers N`` runs N processes on one socket (uvicorn's supervisor; each builds its own app
through the factory). SIGTERM or SIGINT to the parent drains them all: each worker stops
accepting, finishes its in-flight requests, then its decision writer flushes for up to
``V0_LOG_CLOSE_TIMEOUT_S`` (what is left stays in its spool slot and is replayed at the next start).
A worker that dies is replaced by the supervisor. What is per process: see README, *Workers*."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="default: V0_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: V0_PORT or 8000")
    parser.add_argument("--workers", type=int, help="worker processes (default: V0_WORKERS or 1)")
    parser.add_argument("--policies", help="policies file (default: V0_POLICIES or ./policies.yaml)")
    parser.add_argument("--database-url", help="default: V0_DATABASE_URL or sqlite:///./v0.db")
    parser.add_argument("--log-level", default="info")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from router.settings import Settings

    if args.policies:
        os.environ["V0_POLICIES"] = args.policies
    if args.database_url:
        os.environ["V0_DATABASE_URL"] = args.database_url
    settings = Settings()
    workers = args.workers if args.workers is not None else settings.workers
    if workers < 1:
        raise SystemExit("--workers must be at least 1")
    with shared_metrics(workers):
        uvicorn.run("router.app:create_app", factory=True, host=args.host or settings.host,
                    port=args.port or settings.port, log_level=args.log_level, workers=workers,
                    http=HeaderTimeout)
    return 0


@contextlib.contextmanager
def shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, prometheus-client's multiprocess mode: a fresh folder (or the
    operator's ``PROMETHEUS_MULTIPROC_DIR``, its *.db files removed) that every worker inherits, so that a scrape
    reaching any worker reports all of them (router/api/metrics.py)."""
    if workers < 2:
        yield
        return
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="v0-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db"):  # a previous run's figures
        old.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


LATE_S = 0.5  # a header timer that fires this late measured a stalled event loop, not the client


@functools.cache
def _header_timeout_s() -> float:
    from router.settings import Settings

    return Settings().header_read_timeout_s


class HeaderTimeout(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, closing a connection whose request head is not complete within
    ``V0_HEADER_READ_TIMEOUT_S`` of the connection opening or of the previous response ending
    (uvicorn has no such limit: a client sending a partial head would hold the connection for
    ever). The body has its own limit (``V0_BODY_READ_TIMEOUT_S``, in the app)."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._v0_arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._v0_arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._v0_disarm()
        super().connection_lost(exc)

    def _v0_arm(self) -> None:
        self._v0_disarm()
        self._v0_due = self.loop.time() + _header_timeout_s()
        self._v0_timer = self.loop.call_at(self._v0_due, self._v0_expired)

    def _v0_disarm(self) -> None:
        timer = getattr(self, "_v0_timer", None)
        if timer is not None:
            timer.cancel()
        self._v0_timer = None

    def _v0_expired(self) -> None:
        if self.loop.time() - self._v0_due > LATE_S:  # the loop itself was held up: the head may be
            self._v0_arm()                             # waiting unread in the socket; look again later
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # no request head since it was armed
            self.transport.close()
