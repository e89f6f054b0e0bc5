"""Helpers for the gateway tests: a test policies file, a fixed scorer, starting the gateway,
and reading decision rows back from the database."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import func
from sqlmodel import Session, col, select

from bench.loopback import free_port
from router.app import create_app
from router.scoring import ScoreResult
from router.scoring.base import OneByOne
from router.settings import Settings
from router.store import crud
from router.store.db import make_engine
from router.store.models import Decision

# Prices per 1M tokens: "ok" is cheap, "strong" is expensive.
OK_IN, OK_OUT = 1.0, 2.0
STRONG_IN, STRONG_OUT = 10.0, 30.0
SCORES = {"ok": 0.8, "strong": 0.95, "broken": 0.9, "dead": 0.9, "slow": 0.9, "cut": 0.9}


OK_EXTRA_PARAMS = "    extra_params: [custom_field]\n"  # "ok" accepts one non-OpenAI field


def policies_yaml(upstream_base: str, *, threshold: float = 0.7) -> str:
    dead_base = f"http://127.0.0.1:{free_port()}/v1"

    def cand(model: str, base: str, inp: float = OK_IN, out: float = OK_OUT, timeout: float = 5,
             extra: str = "") -> str:
        return (f"    model: openai/{model}\n    api_base: {base}\n    input_price: {inp}\n"
                f"    output_price: {out}\n    timeout: {timeout}\n    num_retries: 0\n{extra}")

    return (
        "default_policy: balanced\n"
        "candidates:\n"
        f"  ok:\n{cand('fake-ok', upstream_base, extra=OK_EXTRA_PARAMS)}"
        f"  strong:\n{cand('fake-ok', upstream_base, STRONG_IN, STRONG_OUT)}"
        f"  broken:\n{cand('fake-500', upstream_base)}"
        f"  slow:\n{cand('fake-slow', upstream_base, timeout=0.5)}"
        f"  cut:\n{cand('fake-cut', upstream_base)}"
        f"  dead:\n{cand('fake-ok', dead_base)}"
        "policies:\n"
        f"  balanced:\n    candidates: [ok, strong]\n    threshold: {threshold}\n    fallback: strong\n"
        "  strict:\n    candidates: [ok, strong]\n    threshold: 0.99\n    fallback: strong\n"
        "  failover:\n    candidates: [broken, ok]\n    threshold: 0.5\n    fallback: ok\n"
        "  down:\n    candidates: [dead]\n    threshold: 0.5\n    fallback: dead\n"
    )


class FixedScorer(OneByOne):
    def __init__(self, p: dict[str, float]) -> None:
        self.p = p

    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult:
        return ScoreResult({c: self.p[c] for c in candidates}, {c: 1 for c in candidates})


def start_gateway(serve_app: Callable[[Any], Any], tmp_path: Path, database_url: str, upstream_base: str,
                  *, scores: dict[str, float] | None = SCORES, policies_text: str | None = None,
                  scorer: Any = None, **settings: Any) -> Any:
    """Write a policies file, build the app with test settings, serve it; returns Served."""
    path = tmp_path / "policies.yaml"
    path.write_text(policies_text if policies_text is not None else policies_yaml(upstream_base))
    values: dict[str, Any] = {"database_url": database_url, "policies": path, "log_flush_s": 0.05,
                              "policy_reload_s": 0, "log_close_timeout_s": 2, "state_dir": str(tmp_path / f"state-{uuid.uuid4().hex[:8]}"),
                              **settings}
    if scores is None:
        values.setdefault("scorer", "stand-in")
    factory = (lambda _p: FixedScorer(scores)) if scores is not None else None
    if scorer is not None:  # a scorer object of the test's own
        factory = lambda _p: scorer  # noqa: E731
    return serve_app(create_app(Settings(**values), scorer_factory=factory))


@lru_cache(maxsize=None)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_decision(url: str, decision_id: str) -> Decision | None:
    with Session(engine_for(url)) as session:
        return crud.get_decision(session=session, decision_id=decision_id)


def count_decisions(url: str) -> int:
    with Session(engine_for(url)) as session:
        return session.exec(select(func.count()).select_from(Decision)).one()


def newest_decisions(url: str, limit: int) -> list[Decision]:
    with Session(engine_for(url)) as session:
        return list(session.exec(select(Decision).order_by(col(Decision.created_at).desc()).limit(limit)))


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_for_decision(url: str, decision_id: str, timeout: float = 10.0) -> Decision:
    return wait_until(lambda: get_decision(url, decision_id), timeout)


class TcpProxy:
    """A loopback TCP forwarder that can be cut and restored, to take a database "away"."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
