"""The FastAPI app factory. Nothing is created at import time; the lifespan builds the state:
the thread pools (database work apart from scoring), engine, decision writer and its spool,
client-key table, the scorer (V0 over stored profiles, loaded once; the last known profiles
from the local cache when the database is away), default-profile seeding, and the poll loop
that picks up other replicas' changes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from importlib.metadata import version
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from router.api import (admin_build, admin_keys, admin_profiles, admin_stats, dashboard, embeddings, feedback, health,
                        messages, metrics, openai, responses, rollouts, route, selection)
from router.api.admin_build import BuildRequest
from router.api.admin_profiles import DeleteRows
from router.api.admin_stats import ReplayRequest
from router.api.embeddings import EmbeddingRequest
from router.api.messages_wire import MessagesRequest
from router.api.responses_wire import ResponsesRequest
from router.api.rollouts import AllocateRequest, ScoreRequest
from router.api.selection import SelectRequest
from router.api.errors import install_error_handlers
from router.api.openapi import install_openapi
from router.grading.sink import grading_sink
from router.keys import KeyTable
from router.limits import KeyLimiter
from router.limits.hourly import HourlyQuota
from router.litellm_setup import configure_litellm
from router.memory import release_startup_memory
from router.plan import scored_plans
from router.policies import load_policies
from router.scoring.features import FeatureCache
from router.serving.affinity import AffinityMap
from router.scoring.prepared import load_prepared
from router.scoring.profile_cache import ProfileCache
from router.scoring.v0 import V0Scorer
from router.profiles.seed import seed_default_profiles
from router.profiles.service import ProfileService
from router.runtime import PolicyWatcher, ScorerFactory
from router.scoring.breaker import CircuitBreaker
from router.scoring.batcher import ScoreBatcher
from router.scoring.guard import ScoringGuard
from router.scoring.stand_in import stand_in_scorer
from router.protocol import ChatCompletionRequest, FeedbackRequest
from router.settings import Settings
from router.store.db import DbStatus, make_engine
from router.store.executor import Executors, run_db
from router.store.key_models import ClientKeyCreate, ClientKeyUpdate
from router.store.spool_slots import open_slot
from router.store.writer import DecisionWriter
from valuemodel.protocol import ValueModel

log = logging.getLogger(__name__)

GRADING_SYNC_S = 30.0  # how often the grading spend cap reads the day's spend of every replica


def load_v0(settings: Settings) -> ValueModel:
    """The value model for serving: on CPU the torch-free runtime (onnxruntime + numpy; its ONNX
    file comes from ``v0-gateway prepare``, else a short-lived export subprocess); torch only for
    another device, ``V0_RUNTIME=torch``, or a backbone/head that needs it (logged). numpy's BLAS
    pool gets ``V0_THREADS`` threads (default 1): each score is many small matmuls."""
    from valuemodel.backbone_files import limit_blas

    threads = settings.threads
    limit_blas(1 if threads is None else threads)
    use_numpy = settings.runtime == "numpy" or (settings.runtime == "auto" and settings.device == "cpu")
    if use_numpy:
        from valuemodel.infer import Unsupported, V0Runtime

        try:
            return V0Runtime.load(settings.weights or None, head=settings.head or None, threads=threads)
        except Unsupported as exc:
            if settings.runtime == "numpy":
                raise
            log.warning("V0 runs on torch: %s", exc)
    from valuemodel import V0  # heavy: imports torch

    return V0.load(settings.weights or None, head=settings.head or None, device=settings.device, threads=threads)


def create_app(settings: Settings | None = None, *, scorer_factory: ScorerFactory | None = None,
               v0: ValueModel | None = None, features: FeatureCache | None = None) -> FastAPI:
    """Build the gateway. ``settings`` default to the environment (``V0_*``).

    ``scorer_factory`` replaces the scorer (tests); ``v0`` shares an already loaded value model
    and ``features`` a feature cache (several app instances in one process, e.g. tests)."""
    settings = settings or Settings()
    configure_litellm()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        policies = load_policies(settings.policies)  # a bad file fails the start at once (file:line: reason)
        executors = Executors.create(db_threads=settings.db_threads, scoring_threads=settings.scoring_threads)
        app.state.executors = executors
        engine = make_engine(settings.database_url, timeout_s=settings.db_timeout_s)
        state_dir = local_state_dir(settings)
        status = DbStatus()
        scorer: V0Scorer | None = None
        factory = scorer_factory
        if factory is None and settings.scorer == "stand-in":
            factory = stand_in_scorer
        if factory is None:
            model = v0 if v0 is not None else await asyncio.to_thread(load_v0, settings)
            scorer = V0Scorer(model, engine, features=features,
                              cache=ProfileCache(state_dir) if state_dir else None)
            if settings.seed_profiles:  # the default profiles' features, encoded by `v0-gateway prepare`
                await asyncio.to_thread(load_prepared, scorer.features, model)
            factory = lambda _policies: scorer  # noqa: E731  (one V0 scorer for every policies version)
        watcher = PolicyWatcher(settings.policies, factory, policies=policies)  # the file is parsed once
        if scorer is not None:
            scorer.want(watcher.runtime.policies)
        keys = KeyTable(engine, settings.client_key_set)
        limiter = KeyLimiter(engine, redis_url=settings.redis_url or None, namespace=database_id(settings))
        seeding = {"done": not settings.seed_profiles}

        def sync_db() -> None:  # first start, then other replicas' profile and key changes
            try:
                if not seeding["done"]:
                    seed_default_profiles(engine, watcher.runtime.policies)
                    seeding["done"] = True
                keys.refresh()
                limiter.refresh()
                if scorer is not None:
                    scorer.refresh()
            except Exception as exc:
                status.failed(exc)
                raise
            status.ok()

        async def sync() -> None:
            await run_db(app, sync_db)

        try:
            await sync()
        except Exception as exc:  # the database is away: serve anyway, the poll loop retries
            log.error("database not ready at start (profiles, keys): %s", exc)
            if scorer is not None:
                await asyncio.to_thread(scorer.load_cached)
        spool = open_slot(state_dir / "spool") if state_dir else None  # a slot per worker process
        writer = DecisionWriter(engine, batch_size=settings.log_batch_size, flush_s=settings.log_flush_s,
                                max_buffer=settings.log_buffer_max, retry_max_s=settings.log_retry_max_s,
                                close_timeout_s=settings.log_close_timeout_s, spool=spool,
                                fsync_s=settings.log_spool_fsync_s, executor=executors.db, status=status)
        writer.start()
        app.state.watcher, app.state.engine, app.state.writer = watcher, engine, writer
        app.state.keys, app.state.scorer, app.state.db_status = keys, scorer, status
        app.state.limiter = limiter
        app.state.feedback_quota = HourlyQuota(limiter, "feedback")
        app.state.profiles = ProfileService(engine, scorer, executors.db, refresh_s=settings.profile_refresh_s)
        batcher = ScoreBatcher(scored_plans, max_batch=settings.scoring_batch_max,
                               on_batch=app.state.metrics.scoring_batch.observe)
        app.state.scoring_guard = ScoringGuard(
            batcher, timeout_s=settings.scoring_timeout_s, max_waiting=settings.scoring_queue_max,
            breaker=CircuitBreaker(failures=settings.scoring_breaker_failures,
                                   cooldown_s=settings.scoring_breaker_cooldown_s))

        sink = grading_sink(settings, runtime=lambda: watcher.runtime, profiles=app.state.profiles,
                            settle=writer.settle, scorer=scorer, registry=app.state.metrics.registry)
        sink.start()
        app.state.grading = sink
        app.state.answer_sinks.append(sink)

        async def reload() -> None:
            if await asyncio.to_thread(watcher.reload) and scorer is not None:
                scorer.want(watcher.runtime.policies)  # the new file's (candidate, profile_size) pairs
                await run_db(app, scorer.refresh)

        async def publish_metrics() -> None:
            app.state.metrics.publish_state()

        async def sync_budget() -> None:
            await sink.sync_budget(engine)

        every = [(settings.policy_reload_s, reload, "policy-reload"), (settings.profile_poll_s, sync, "profile-poll"),
                 (GRADING_SYNC_S, sync_budget, "grading-budget"), (1.0, limiter.check_shared, "limits-redis")]
        if app.state.metrics.multiprocess:  # serve --workers N: each worker's figures for every scrape
            every.append((metrics.STATE_EVERY_S, publish_metrics, "metrics-state"))
        tasks = [asyncio.create_task(_every(s, fn, name), name=name) for s, fn, name in every if s > 0]
        await asyncio.to_thread(release_startup_memory)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for _, build in app.state.builds.values():
                build.cancel()
            app.state.answer_sinks.remove(sink)
            await sink.close()
            await app.state.profiles.close()
            await asyncio.to_thread(batcher.close)
            await writer.close()
            await limiter.close()
            engine.dispose()
            executors.shutdown()
            app.state.metrics.close()

    app = FastAPI(title="V0 Gateway", version=version("v0-gateway"), lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics.Metrics(app.state)
    app.state.explore_rng = random.Random(settings.explore_seed)
    app.state.answer_sinks = []  # router/serving's answered-request hook: sink.answered(AnsweredCall)
    app.state.builds = {}  # candidate -> (progress, task) of POST /admin/profiles/{model}/build
    app.state.affinity = AffinityMap()  # conversations' recent answers on this replica (router/serving/affinity.py)
    install_error_handlers(app)
    install_openapi(app, [ChatCompletionRequest, ResponsesRequest, MessagesRequest, EmbeddingRequest, FeedbackRequest,
                          ClientKeyCreate, ClientKeyUpdate, DeleteRows, ReplayRequest, ScoreRequest, AllocateRequest,
                          SelectRequest, BuildRequest])
    for module in (openai, responses, messages, embeddings, route, rollouts, selection, feedback, admin_profiles,
                   admin_build, admin_keys, admin_stats, dashboard, health, metrics):
        app.include_router(module.router)
    app.add_middleware(feedback.FeedbackGate)
    if settings.debug_timing:
        app.add_middleware(ReceivedAt)
    return app


def database_id(settings: Settings) -> str:
    """The database's URL without password, hashed: what belongs to one database is kept apart."""
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def local_state_dir(settings: Settings) -> Path | None:
    """``V0_STATE_DIR/<database>``: the spool and profile cache belong to one database (its URL
    without password, hashed), so rows are never replayed into another one."""
    if not settings.state_dir:
        return None
    return Path(settings.state_dir) / database_id(settings)


async def _every(interval_s: float, fn: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await fn()
        except Exception as exc:  # e.g. the database is briefly away: try again next time
            log.warning("%s failed: %s", name, exc, exc_info=True)


class ReceivedAt:
    """ASGI middleware: stamps ``request.state.v0_received`` (perf_counter) on arrival."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["v0_received"] = time.perf_counter()
        await self.app(scope, receive, send)
