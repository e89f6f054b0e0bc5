"""`v0-gateway migrate`: alembic upgrade head (or another revision) on V0_DATABASE_URL."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config

from router.settings import Settings


def find_alembic_ini() -> Path:
    """alembic.ini in the working directory, else at the repository root above this package."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / "alembic.ini").is_file():
            return base / "alembic.ini"
    raise FileNotFoundError("alembic.ini not found (run from the repository root)")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(find_alembic_ini()))
    cfg.set_main_option("sqlalchemy.url", url or Settings().database_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="default: V0_DATABASE_URL or sqlite:///./v0.db")
    parser.add_argument("--revision", default="head")


def run(args: argparse.Namespace) -> int:
    upgrade(args.database_url, args.revision)
    return 0
