"""The grading sink: after each answered request, maybe a judge grade and a shadow call.

The serving layer hands every answered request to ``answered(call)``, which only draws and
enqueues (bounded; a full queue skips and counts): with the policy's ``sample_rate`` the answer
is graded by the judge; with ``shadow_rate`` a routed request is also answered by the candidate
:func:`~router.grading.exploration.novel_shadow_candidate` picks (the one whose profile is
farthest from the prompt) (never returned to the client, never
counted against the client's key), and both answers are graded. Workers (``V0_GRADING_WORKERS``)
do the calls off the request path; shadow calls run at most ``V0_SHADOW_CONCURRENCY`` at a time;
every call first reserves its estimated cost against ``max_usd_per_day``. Grades go through
:meth:`ProfileService.grade` (grading log, decision row, profile row, coalesced refresh) and the
calibration window. Nothing here can fail a request: every failure is a counted outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from router.grading.budget import DailyBudget
from router.grading.drift import Calibration
from router.grading.exploration import novel_shadow_candidate
from router.grading.judge import Verdict, judge_messages, run_judge
from router.grading.metrics import GradingMetrics
from router.policy_sections import GradingSpec
from router.profiles.service import ProfileService
from router.protocol import GatewayError
from router.runtime import Runtime
from router.scoring.coverage import novelties
from router.scoring.v0 import V0Scorer
from router.serving.answered import AnsweredCall
from router.settings import Settings
from router.upstream import Upstream
from router.store import grade_crud
from router.store.grade_models import GradeCreate

log = logging.getLogger(__name__)

# Request fields a shadow call does not repeat: how the client wanted the answer delivered.
_DELIVERY = ("stream", "stream_options", "n")


@dataclass(frozen=True)
class Job:
    call: AnsweredCall
    grading: GradingSpec
    runtime: Runtime
    judge: bool
    shadow: bool


@dataclass(frozen=True)
class Limits:
    workers: int = 4
    queue_max: int = 1000
    shadow_concurrency: int = 2
    judge_max_tokens: int = 200
    shadow_max_tokens: int = 1024


class GradingSink:
    def __init__(self, *, runtime: Callable[[], Runtime], profiles: ProfileService,
                 settle: Callable[[str], Awaitable[bool]], metrics: GradingMetrics, calibration: Calibration,
                 profile_rows: Callable[[Sequence[str]], Mapping[str, int]], limits: Limits = Limits(),
                 rng: random.Random | None = None, budget: DailyBudget | None = None,
                 novelty: Callable[[str, Sequence[str]], Mapping[str, float] | None] = lambda text, cands: None) -> None:
        self._runtime, self._profiles, self._settle = runtime, profiles, settle
        self.metrics, self.calibration, self._profile_rows = metrics, calibration, profile_rows
        self._novelty = novelty
        self.limits = limits
        self.rng = rng or random.Random()
        self.budget = budget or DailyBudget()
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=limits.queue_max)
        self._shadow_slots = asyncio.Semaphore(limits.shadow_concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self.in_flight = 0
        self.shadow_in_flight = 0
        self.shadow_in_flight_max = 0  # the most shadow calls ever in flight at once

    # ---- the request path: draw and enqueue, nothing else -----------------------------------
    def answered(self, call: AnsweredCall) -> None:
        runtime = self._runtime()
        grading = runtime.policies.grading_for(call.policy)
        if grading is None or not call.answer_text:
            return
        judge = self.rng.random() < grading.sample_rate
        shadow = call.policy is not None and self.rng.random() < grading.shadow_rate
        if shadow and call.has_tools and not grading.shadow_tools:
            self.metrics.skipped.labels("shadow", "tools").inc()
            shadow = False
        if not (judge or shadow):
            return
        try:
            self._queue.put_nowait(Job(call, grading, runtime, judge or shadow, shadow))
        except asyncio.QueueFull:
            for kind in ("judge", "shadow") if shadow else ("judge",):
                self.metrics.skipped.labels(kind, "queue_full").inc()

    # ---- workers ------------------------------------------------------------------------------
    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work(), name=f"grading-{i}") for i in range(self.limits.workers)]

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def sync_budget(self, engine: Engine) -> None:
        """Raise the day's spend to the grading log's total (every replica's)."""
        day = self.budget.day

        def read() -> float:
            with Session(engine) as session:
                return grade_crud.spend_on(session=session, day=day)

        self.budget.sync(await asyncio.to_thread(read), day)

    async def drain(self) -> None:
        """Wait until every queued job is done (tests, benchmarks)."""
        await self._queue.join()

    def status(self) -> dict[str, object]:
        """The loop's state for /admin/status and the dashboard: today's spend against the cap,
        the queue, and each candidate's calibration window (its drift evidence)."""
        grading = self._runtime().policies.spec.grading
        return {"enabled": grading is not None, "judge": grading.judge if grading else None,
                "day": self.budget.day.isoformat(), "spent_usd": round(self.budget.spent, 9),
                "reserved_usd": round(self.budget.reserved, 9),
                "max_usd_per_day": grading.max_usd_per_day if grading else None,
                "pending": self.pending, "shadow_in_flight": self.shadow_in_flight,
                "calibration": {m: {"n": w.n, "predicted": w.predicted, "judged": w.judged, "error": w.error,
                                    "alert": w.alert, "alert_drop": self.calibration.alert_drop}
                                for m, w in self.calibration.snapshot().items()}}

    @property
    def pending(self) -> int:
        return self._queue.qsize() + self.in_flight

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            self.in_flight += 1
            try:
                await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug: logged and counted, the worker lives on
                log.exception("grading %s failed", job.call.decision_id)
                self.metrics.skipped.labels("judge", "error").inc()
            finally:
                self.in_flight -= 1
                self._queue.task_done()

    async def _run(self, job: Job) -> None:
        call = job.call
        await self._settle(call.decision_id)  # the decision row first: the judge grade goes on it
        tasks = []
        if job.judge:
            tasks.append(self._grade(job, "judge", call.answered, call.answer_text, 0.0))
        if job.shadow:
            tasks.append(self._shadow(job))
        await asyncio.gather(*tasks)

    async def _shadow(self, job: Job) -> None:
        call, runtime = job.call, job.runtime
        policy = runtime.policies.policies.get(call.policy or "")
        candidates = [c for c in (policy.candidates if policy else ()) if c != call.answered]
        if not candidates:
            self.metrics.skipped.labels("shadow", "no_candidate").inc()
            return
        messages = [dict(m) for m in call.messages]
        params = {k: v for k, v in call.params.items() if k not in _DELIVERY}
        if not any(k in params for k in ("max_tokens", "max_completion_tokens")):
            params["max_tokens"] = self.limits.shadow_max_tokens
        output = int(params.get("max_tokens") or params.get("max_completion_tokens") or 0)
        upstream = runtime.upstream
        # Off the event loop: each candidate's estimate, and the prompt's features (one backbone pass).
        estimates, novel = await asyncio.to_thread(self._shadow_inputs, upstream, call, candidates, messages, output)
        # The rule chooses among the candidates today's cap can still pay for (as bench online does).
        target = novel_shadow_candidate(call.answered, candidates, self._profile_rows(candidates), self.rng,
                                        novelties=novel, costs=estimates,
                                        budget=self.budget.left(job.grading.max_usd_per_day))
        if target is None or not self.budget.reserve(estimates[target], job.grading.max_usd_per_day):
            self.metrics.skipped.labels("shadow", "budget").inc()
            return
        estimate = estimates[target]
        cost = 0.0
        async with self._shadow_slots:
            self.shadow_in_flight += 1
            self.shadow_in_flight_max = max(self.shadow_in_flight_max, self.shadow_in_flight)
            try:
                answer = await upstream.answer(candidate=target, messages=messages, params=params)
                cost = answer.cost_usd
            except GatewayError as exc:
                await self._record(job, "shadow", target, Verdict("shadow_error", None, 0.0, exc.body.message[:500]),
                                   0.0)
                return
            finally:
                self.shadow_in_flight -= 1
                self.budget.settle(estimate, cost)
                self.metrics.spend.labels("shadow").inc(cost)
        await self._grade(job, "shadow", target, answer.text, cost)

    def _shadow_inputs(self, upstream: Upstream, call: AnsweredCall, candidates: list[str], messages: list[dict],
                       output: int) -> tuple[dict[str, float], Mapping[str, float] | None]:
        """Each candidate's estimated cost of the shadow call, and the prompt's novelty for each
        (None when it cannot be computed: the least-profiled rule still picks one)."""
        estimates = upstream.estimates(candidates, messages, output)
        try:
            return estimates, self._novelty(call.routing_text, candidates)
        except Exception as exc:
            log.warning("shadow rule: novelty of %s not computed: %s", call.decision_id, exc)
            return estimates, None

    async def _grade(self, job: Job, kind: str, model: str, answer: str, answer_cost: float) -> None:
        judge, upstream = job.grading.judge, job.runtime.upstream
        messages = judge_messages(job.call.routing_text, answer, job.grading.rubric)
        estimate = await asyncio.to_thread(upstream.estimate, judge, messages, self.limits.judge_max_tokens)
        if not self.budget.reserve(estimate, job.grading.max_usd_per_day):
            self.metrics.skipped.labels(kind, "budget").inc()
            if kind == "shadow":  # the shadow answer was paid for: its row says so, ungraded
                await self._record(job, kind, model, Verdict("over_budget", None, 0.0), answer_cost)
            return
        verdict = await run_judge(upstream, judge, messages, self.limits.judge_max_tokens)
        self.budget.settle(estimate, verdict.cost_usd)
        self.metrics.spend.labels("judge").inc(verdict.cost_usd)
        await self._record(job, kind, model, verdict, answer_cost)

    async def _record(self, job: Job, kind: str, model: str, verdict: Verdict, answer_cost: float) -> None:
        call = job.call
        p = next((e.p_success for e in call.estimates if e.name == model), None)
        self.metrics.grades.labels(kind, verdict.status).inc()
        if verdict.status != "ok" and verdict.error:
            log.warning("%s grade of %s for %s: %s: %s", kind, model, call.decision_id, verdict.status, verdict.error)
        grade = GradeCreate(decision_id=call.decision_id, kind=kind, model=model, policy=call.policy,
                            judge_model=job.grading.judge, status=verdict.status, grade=verdict.grade, p_success=p,
                            judge_cost_usd=verdict.cost_usd, answer_cost_usd=answer_cost, error=verdict.error)
        if verdict.grade is not None:
            self.calibration.add(model, p, verdict.grade)
        await self._profiles.grade(grade=grade, prompt=call.routing_text)


def profile_rows_of(scorer: V0Scorer | None) -> Callable[[Sequence[str]], Mapping[str, int]]:
    """Each candidate's rows in its largest kept profile window (no scorer: none known)."""
    def rows(candidates: Sequence[str]) -> Mapping[str, int]:
        if scorer is None:
            return {}
        return {c: built.rows for c in candidates if (built := scorer.current(c)) is not None}

    return rows


def novelty_of(scorer: V0Scorer | None) -> Callable[[str, Sequence[str]], Mapping[str, float] | None]:
    """A prompt's novelty for each candidate (router/scoring/coverage.py; no scorer: None)."""
    def novelty(text: str, candidates: Sequence[str]) -> Mapping[str, float] | None:
        return novelties(scorer, [text], candidates)[0] if scorer is not None else None

    return novelty


def grading_sink(settings: Settings, *, runtime: Callable[[], Runtime], profiles: ProfileService,
                 settle: Callable[[str], Awaitable[bool]], scorer: V0Scorer | None,
                 registry: CollectorRegistry) -> GradingSink:
    """The app's sink, from the settings (``V0_GRADING_*``, ``V0_SHADOW_*``, ``V0_CALIBRATION_*``)."""
    metrics = GradingMetrics(registry)
    calibration = Calibration(window=settings.calibration_window, min_n=settings.calibration_min_n,
                              alert_drop=settings.calibration_alert_drop, on_error=metrics.set_calibration_error)
    limits = Limits(workers=settings.grading_workers, queue_max=settings.grading_queue_max,
                    shadow_concurrency=settings.shadow_concurrency, judge_max_tokens=settings.judge_max_tokens,
                    shadow_max_tokens=settings.shadow_max_tokens)
    return GradingSink(runtime=runtime, profiles=profiles, settle=settle, metrics=metrics, calibration=calibration,
                       profile_rows=profile_rows_of(scorer), limits=limits, rng=random.Random(settings.grading_seed),
                       novelty=novelty_of(scorer))
