"""The FastAPI app factory. Nothing is created at import time; the lifespan builds the state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from router.api import health, openai
from router.api.errors import install_error_handlers
from router.runtime import PolicyWatcher, ScorerFactory, stand_in_scorer
from router.settings import Settings
from router.store.db import make_engine
from router.store.writer import DecisionWriter

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, scorer_factory: ScorerFactory | None = None) -> FastAPI:
    """Build the gateway. ``settings`` default to the environment (``V0_*``)."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A bad policies file stops the start here, with file, line and reason.
        watcher = PolicyWatcher(settings.policies, scorer_factory or stand_in_scorer)
        engine = make_engine(settings.database_url)
        writer = DecisionWriter(engine, batch_size=settings.log_batch_size, flush_s=settings.log_flush_s,
                                max_buffer=settings.log_buffer_max, retry_max_s=settings.log_retry_max_s)
        writer.start()
        app.state.watcher, app.state.engine, app.state.writer = watcher, engine, writer
        reload_task = (asyncio.create_task(watcher.watch(settings.policy_reload_s), name="policy-reload")
                       if settings.policy_reload_s > 0 else None)
        try:
            yield
        finally:
            if reload_task is not None:
                reload_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reload_task
            await writer.close()
            engine.dispose()

    app = FastAPI(title="V0 Gateway", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(openai.router)
    app.include_router(health.router)
    return app
