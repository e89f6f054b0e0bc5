"""Engine construction. Nothing is created at import time; the app lifespan owns the engine."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlmodel import create_engine


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # timeout: seconds SQLite waits on a locked file before failing.
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer ``SELECT 1``."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
