"""Profile changes, each in one transaction that bumps the model's version, then a local refresh
of the scorer (other replicas pick the new version up on their poll loop).

Uploads and feedback encode their texts into the feature cache *before* writing, so the local
rebuild after the write only fits the new state, and a failing encode writes nothing. Uploads and
deletes rebuild at once; grades go through the coalesced refresh (``refresh.py``), so a burst
of grades never rebuilds a state per grade.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from router.scoring.v0 import V0Scorer
from router.profiles.refresh import ProfileRefresh
from router.profiles.upload import ProfileRowIn
from router.protocol import GatewayError
from router.store import crud, profile_crud
from router.store.grade_models import Grade, GradeCreate
from router.store.models import Decision
from router.store.profile_models import ProfileRowCreate


T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    model: str
    version: int
    rows: int  # rows written or deleted


class ProfileService:
    def __init__(self, engine: Engine, scorer: V0Scorer | None, executor: Executor | None = None, *,
                 refresh_s: float = 0.5) -> None:
        self.engine, self.scorer = engine, scorer
        self._executor = executor  # the database pool (None: asyncio's default, in tests)
        self.refresher = ProfileRefresh(self._rebuild, interval_s=refresh_s)
        # Client grades do their database work one at a time (created lazily: on the serving
        # loop), so a burst of grades holds one pool thread and a small share of the interpreter
        # lock instead of all of them; chat serving keeps its latency (bench/feedback_load.py).
        self._grade_slot: asyncio.Semaphore | None = None

    @property
    def grade_slot(self) -> asyncio.Semaphore:
        if self._grade_slot is None:
            self._grade_slot = asyncio.Semaphore(1)
        return self._grade_slot

    async def _db(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _prepare(self, texts: Sequence[str]) -> None:
        if self.scorer is not None:
            await self._db(lambda: self.scorer.prepare(texts))

    async def _rebuild(self) -> None:
        if self.scorer is not None:
            await self._db(self.scorer.refresh)

    async def _refresh(self) -> None:
        await self.refresher.now()

    async def close(self) -> None:
        await self.refresher.close()

    async def upload(self, *, model: str, rows: Sequence[ProfileRowIn],
                     mode: Literal["append", "replace"]) -> Change:
        await self._prepare([r.prompt for r in rows])

        def write() -> Change:
            with Session(self.engine) as session:
                if mode == "replace":
                    profile_crud.delete_profile(session=session, model=model)
                profile_crud.add_rows(session=session, rows=[
                    ProfileRowCreate(model=model, prompt=r.prompt, score=r.score, source="upload") for r in rows])
                version = profile_crud.bump_version(session=session, model=model)
                session.commit()
            return Change(model, version, len(rows))

        change = await self._db(write)
        await self._refresh()
        return change

    async def append(self, *, model: str, rows: Sequence[ProfileRowIn], source: str) -> Change:
        """Append graded rows of ``source`` (e.g. ``build``: a profile built by the judge); the
        state rebuild is coalesced."""
        await self._prepare([r.prompt for r in rows])

        def write() -> Change:
            with Session(self.engine) as session:
                profile_crud.add_rows(session=session, rows=[
                    ProfileRowCreate(model=model, prompt=r.prompt, score=r.score, source=source) for r in rows])
                version = profile_crud.bump_version(session=session, model=model)
                session.commit()
            return Change(model, version, len(rows))

        change = await self._db(write)
        self.refresher.soon()
        return change

    async def delete(self, *, model: str, ids: Sequence[int] | None) -> Change:
        """Delete the rows ``ids`` (all must exist: 404 otherwise, nothing deleted) or every row."""

        def write() -> Change:
            with Session(self.engine) as session:
                if ids is None:
                    n = profile_crud.delete_profile(session=session, model=model)
                else:
                    found = profile_crud.existing_row_ids(session=session, model=model, ids=ids)
                    missing = sorted(set(ids) - found)
                    if missing:
                        raise GatewayError(404, f"Profile of {model!r} has no rows with ids {missing}.",
                                           param="ids", code="profile_row_not_found")
                    n = profile_crud.delete_rows(session=session, model=model, ids=ids)
                version = profile_crud.bump_version(session=session, model=model)
                session.commit()
            return Change(model, version, n)

        change = await self._db(write)
        await self._refresh()
        return change

    async def feedback(self, *, decision: Decision, score: float) -> Change:
        """Record the score on the decision and upsert its one feedback row in the profile of
        the model that answered (grading again updates that row)."""
        model, text = decision.answered_model, decision.routing_text
        assert model is not None and text is not None
        async with self.grade_slot:
            change = await self._feedback_write(decision, model, text, score)
        await self.refresher.wait()  # coalesced with other grades; the caller reads its own write
        return change

    async def _feedback_write(self, decision: Decision, model: str, text: str, score: float) -> Change:
        await self._prepare([text])

        def write() -> Change:
            for attempt in range(2):
                try:
                    with Session(self.engine) as session:
                        _record_feedback(session, decision.id, score)
                        existing = profile_crud.get_feedback_row(session=session, decision_id=decision.id)
                        if existing is None:
                            profile_crud.add_rows(session=session, rows=[ProfileRowCreate(
                                model=model, prompt=text, score=score, source="feedback", decision_id=decision.id)])
                        else:
                            existing.score, existing.source = score, "feedback"  # over a judge grade
                            session.add(existing)
                        version = profile_crud.bump_version(session=session, model=model)
                        session.commit()
                    return Change(model, version, 1)
                except IntegrityError:  # the same decision graded concurrently: update instead
                    if attempt:
                        raise
            raise AssertionError("unreachable")

        return await self._db(write)

    async def grade(self, *, grade: GradeCreate, prompt: str | None) -> Change | None:
        """Write a judge or shadow grade (router/grading/): its grading-log row and, when it is an
        ``ok`` grade with a prompt, a profile row of the graded model (source ``judge`` or
        ``shadow``). A judge grade also goes on the decision row, and its profile row is the
        decision's one graded row, never written over a human grade (feedback replaces it
        instead). The state rebuild is coalesced (``refresher.soon``). Returns the profile change
        (None: no profile row was written)."""
        graded = grade.status == "ok" and grade.grade is not None and bool(prompt)

        def write(profile: bool) -> Change | None:
            with Session(self.engine) as session:
                session.add(Grade.model_validate(grade))
                change = None
                judge = grade.kind == "judge"
                decision = session.get(Decision, grade.decision_id) if judge else None
                if decision is not None and graded:
                    decision.judge_score, decision.judge_model = grade.grade, grade.judge_model
                    decision.judge_cost_usd = grade.judge_cost_usd
                    session.add(decision)
                human = decision is not None and decision.feedback_score is not None
                taken = judge and profile_crud.get_feedback_row(session=session, decision_id=grade.decision_id)
                if profile and graded and not human and not taken:
                    assert grade.grade is not None and prompt
                    profile_crud.add_rows(session=session, rows=[ProfileRowCreate(
                        model=grade.model, prompt=prompt, score=grade.grade, source=grade.kind,
                        decision_id=grade.decision_id if judge else None)])
                    change = Change(grade.model, profile_crud.bump_version(session=session, model=grade.model), 1)
                session.commit()
            return change

        async with self.grade_slot:  # one grade at a time, client and judge grades alike
            if graded:
                await self._prepare([prompt or ""])
            try:
                change = await self._db(lambda: write(True))
            except IntegrityError:  # feedback for the same decision landed first: the human grade wins
                change = await self._db(lambda: write(False))
        if change is not None:
            self.refresher.soon()
        return change

    async def grade_only(self, *, decision: Decision, score: float) -> Change:
        """An untrusted grade (policies ``feedback.trusted_keys``): kept on the decision, out of
        every profile; the answering model's profile and its version are unchanged."""
        model = decision.answered_model
        assert model is not None

        def write() -> Change:
            with Session(self.engine) as session:
                _record_feedback(session, decision.id, score)
                session.commit()
                version = profile_crud.versions(session=session).get(model, 0)
            return Change(model, version, 0)

        async with self.grade_slot:
            return await self._db(write)


def _record_feedback(session: Session, decision_id: str, score: float) -> None:
    """The human grade on its decision row (404 ``decision_not_found`` when the row is gone)."""
    row = session.get(Decision, decision_id)
    if row is None:
        raise GatewayError(404, f"Unknown decision {decision_id!r}.", param="decision_id",
                           code="decision_not_found")
    crud.set_feedback(session=session, decision=row, score=score)
