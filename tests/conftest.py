"""Shared fixtures: the loopback OpenAI-compatible upstream (bench/loopback.py), migrated
databases (SQLite and PostgreSQL), and the gateway served by a real uvicorn server on a free
loopback port."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import sqlalchemy as sa

from bench.loopback import LoopbackUpstream, ServerThread

PG_ADMIN_URL = os.environ.get("V0_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream() as up:
        yield up


def _pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def create_database(kind: str, tmp_dir: Path) -> tuple[str, Callable[[], None]]:
    """A fresh, empty database of ``kind`` ("sqlite" | "postgresql"): (url, drop)."""
    if kind == "sqlite":
        path = tmp_dir / f"v0-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    if not _pg_available():
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    name = f"v0_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated (alembic upgrade head) database, one per backend per test session."""
    from router.migrate import upgrade

    url, drop = create_database(request.param, tmp_path_factory.mktemp("db"))
    upgrade(url)
    yield url
    drop()


@pytest.fixture
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database; parametrize indirectly with "sqlite" / "postgresql"."""
    url, drop = create_database(request.param, tmp_path)
    yield url
    drop()


@dataclass
class Served:
    app: Any
    base_url: str  # e.g. http://127.0.0.1:PORT


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], Served]]:
    """Serve an ASGI app with a real uvicorn server in a thread; stopped after the test."""
    running: list[ServerThread] = []

    def start(app: Any) -> Served:
        server = ServerThread(app, lifespan="on")
        port = server.start()
        running.append(server)
        return Served(app=app, base_url=f"http://127.0.0.1:{port}")

    yield start
    for server in running:
        server.stop()


@pytest.fixture(scope="session")
def v0() -> Any:
    """The shipped V0 (default head), loaded once per test session."""
    from valuemodel import V0

    return V0.load()


@pytest.fixture(scope="session")
def feature_cache() -> Any:
    """One feature cache for every gateway the tests start (keyed by V0 fingerprint)."""
    from router.scoring.features import FeatureCache

    return FeatureCache()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new migrated database per test, on each backend (profile tests need empty profiles)."""
    from router.migrate import upgrade

    url, drop = create_database(request.param, tmp_path)
    upgrade(url)
    yield url
    drop()


@pytest.fixture
def proxied_pg(empty_database: str) -> Iterator[tuple[str, str, Any]]:
    """A migrated empty database and the same database behind a fault proxy:
    (direct url, url through the proxy, the proxy)."""
    from bench.faults.proxy import FaultProxy
    from gateway_support import engine_for
    from router.migrate import upgrade

    upgrade(empty_database)
    url = sa.engine.make_url(empty_database)
    with FaultProxy(url.host, url.port or 5432) as proxy:
        yield empty_database, url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    engine_for(empty_database).dispose()
