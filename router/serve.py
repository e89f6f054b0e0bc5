"""`v0-gateway serve`: run the gateway with uvicorn (default 127.0.0.1:8000)."""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="default: V0_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: V0_PORT or 8000")
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
    uvicorn.run("router.app:create_app", factory=True, host=args.host or settings.host,
                port=args.port or settings.port, log_level=args.log_level)
    return 0
