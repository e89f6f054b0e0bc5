"""Engine construction, with a time limit on every database call. Nothing is created at
import time; the app lifespan owns the engine.

PostgreSQL (psycopg): ``connect_timeout`` bounds connecting; libpq's ``tcp_user_timeout`` and
keepalives drop a connection whose peer vanished from the network; ``statement_timeout`` bounds
work on the server. A partition can still leave a socket that the kernel keeps acknowledging
(a proxy or load balancer that stops forwarding), so a watchdog (:class:`SocketWatchdog`) shuts
down the socket of any statement, commit, rollback or checkout ping that runs longer than
``timeout_s``: the call fails with a disconnect error instead of waiting forever.
SQLite: a busy timeout of ``timeout_s``. Both: ``pool_timeout`` of ``timeout_s`` to get a
connection from the pool.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from sqlalchemy import Engine, event, exc, text
from sqlmodel import create_engine

log = logging.getLogger(__name__)


def make_engine(url: str, *, timeout_s: float = 5.0) -> Engine:
    if url.startswith("sqlite"):
        # timeout: seconds SQLite waits on a locked file before failing.
        return create_engine(url, pool_timeout=timeout_s,
                             connect_args={"check_same_thread": False, "timeout": timeout_s})
    ms = int(timeout_s * 1000)
    engine = create_engine(url, pool_timeout=timeout_s, pool_recycle=300, connect_args={
        "connect_timeout": max(1, round(timeout_s)), "tcp_user_timeout": ms, "keepalives": 1,
        "keepalives_idle": max(1, round(timeout_s)), "keepalives_interval": 1, "keepalives_count": 3,
        "options": f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={4 * ms}"})
    if engine.dialect.driver == "psycopg":
        SocketWatchdog(timeout_s).install(engine)
    return engine


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer ``SELECT 1``."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class SocketWatchdog:
    """Shuts down the socket of a PostgreSQL call that outlives its deadline."""

    def __init__(self, timeout_s: float, tick_s: float = 0.1) -> None:
        self.timeout_s, self.tick_s = timeout_s, tick_s
        self._armed: dict[int, tuple[float, Any]] = {}  # id(dbapi conn) -> (deadline, dbapi conn)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.fired = 0

    def arm(self, dbapi_conn: Any) -> None:
        if dbapi_conn is None:
            return
        with self._lock:
            self._armed[id(dbapi_conn)] = (time.monotonic() + self.timeout_s, dbapi_conn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="v0-db-watchdog", daemon=True)
                self._thread.start()

    def disarm(self, dbapi_conn: Any) -> None:
        with self._lock:
            self._armed.pop(id(dbapi_conn), None)

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick_s)
            now = time.monotonic()
            with self._lock:
                late = [c for d, c in self._armed.values() if d <= now]
                for c in late:
                    self._armed.pop(id(c), None)
            for conn in late:
                self.fired += 1
                log.warning("database call exceeded %.1f s: closing its connection", self.timeout_s)
                _shutdown_socket(conn)

    def install(self, engine: Engine) -> None:
        def raw(conn: Any) -> Any:
            try:
                return conn.connection.dbapi_connection
            except Exception:  # invalidated meanwhile
                return None

        def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            # Pessimistic ping, under the watchdog (pool_pre_ping would run unguarded).
            self.arm(dbapi_conn)
            try:
                with dbapi_conn.cursor() as cur:
                    cur.execute("SELECT 1")
            except Exception as error:
                raise exc.DisconnectionError(str(error)) from error
            finally:
                self.disarm(dbapi_conn)

        event.listen(engine, "before_cursor_execute", lambda c, *_: self.arm(raw(c)))
        event.listen(engine, "after_cursor_execute", lambda c, *_: self.disarm(raw(c)))
        event.listen(engine, "commit", lambda c: self.arm(raw(c)))
        event.listen(engine, "rollback", lambda c: self.arm(raw(c)))
        event.listen(engine, "handle_error", lambda ctx: ctx.connection is not None and self.disarm(raw(ctx.connection)))
        event.listen(engine.pool, "checkout", checkout)
        event.listen(engine.pool, "reset", lambda c, *_: self.arm(c))
        event.listen(engine.pool, "checkin", lambda c, _r: c is not None and self.disarm(c))


def _shutdown_socket(dbapi_conn: Any) -> None:
    try:
        fd = os.dup(dbapi_conn.pgconn.socket)
    except Exception:  # already closed
        return
    with socket.socket(fileno=fd) as sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class DbStatus:
    """What background work last saw of the database (never a live, blocking check):
    ``reachable`` is None until the first call, then the outcome of the latest one."""

    def __init__(self) -> None:
        self.reachable: bool | None = None
        self.since = time.time()  # when ``reachable`` last changed
        self.last_error: str | None = None  # internal (driver text): admin API and logs only

    def ok(self) -> None:
        if self.reachable is not True:
            self.reachable, self.since = True, time.time()

    def failed(self, error: BaseException) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        if self.reachable is not False:
            self.reachable, self.since = False, time.time()
