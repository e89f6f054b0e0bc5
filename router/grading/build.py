"""A profile for a new candidate, built in minutes: the shipped graded prompt set is sent to the
candidate through the gateway's LiteLLM path (:class:`~router.upstream.Upstream`), each answer
is graded by the judge, and (prompt, grade) rows join the candidate's profile (source ``build``).

The prompt set is the default profiles' prompts (``router/data/profiles/*.jsonl``, their licences
in the NOTICE there), everyday and hard prompts alike. A build is resumable: prompts the candidate
already has ``build`` rows for are skipped, and rows are written as each batch is graded, so an
interrupted build continues where it stopped. :func:`plan_build` says what a build will send and
what it costs at most (the candidate answering ``max_tokens``, the judge grading each answer)
before anything is sent. Used by ``v0-gateway profile build`` and ``POST /admin/profiles/{model}/build``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from router.grading.judge import judge_messages, run_judge
from router.policies import Policies
from router.profiles.seed import default_profiles_dir
from router.profiles.service import ProfileService
from router.profiles.upload import ProfileRowIn
from router.protocol import GatewayError
from router.store.profile_models import ProfileRow
from router.upstream import Upstream, count_prompt_tokens

SOURCE = "build"
JUDGE_OVERHEAD_TOKENS = 300  # the judge prompt's rubric, fences and instructions


def prompt_set(directory: Path | None = None) -> list[str]:
    """The shipped graded prompts: every default profile's prompts, each once, in file order."""
    seen: dict[str, None] = {}
    for path in sorted((directory or default_profiles_dir()).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.setdefault(json.loads(line)["prompt"], None)
    return list(seen)


def built_prompts(engine: Engine, candidate: str) -> set[str]:
    with Session(engine) as session:
        stmt = select(ProfileRow.prompt).where(col(ProfileRow.model) == candidate, col(ProfileRow.source) == SOURCE)
        return set(session.exec(stmt))


@dataclass(frozen=True)
class BuildPlan:
    candidate: str
    judge: str
    prompts: tuple[str, ...]  # still to send
    done: int  # already built (skipped)
    max_tokens: int
    candidate_usd: float  # at most: every answer max_tokens long
    judge_usd: float  # at most: the judge reading such answers

    @property
    def estimate_usd(self) -> float:
        return self.candidate_usd + self.judge_usd


def plan_build(policies: Policies, upstream: Upstream, engine: Engine, *, candidate: str, judge: str | None = None,
               max_tokens: int = 512, limit: int | None = None, judge_max_tokens: int = 200,
               prompts: Sequence[str] | None = None) -> BuildPlan:
    """What a build will send, and its cost at most; raises GatewayError on an unknown candidate
    or judge (404) or no judge at all (400)."""
    if candidate not in policies.candidates:
        raise GatewayError(404, f"Unknown candidate {candidate!r} (policies.yaml candidates).", param="candidate",
                           code="candidate_not_found")
    grading = policies.spec.grading
    judge = judge or (grading.judge if grading else None)
    if judge is None:
        raise GatewayError(400, "No judge: set grading.judge in policies.yaml (or pass a judge).", param="judge",
                           code="no_judge")
    if judge not in policies.candidates:
        raise GatewayError(404, f"Unknown judge {judge!r} (policies.yaml candidates).", param="judge",
                           code="candidate_not_found")
    wanted = list(prompts) if prompts is not None else prompt_set()
    wanted = wanted[:limit] if limit is not None else wanted
    done = built_prompts(engine, candidate)
    todo = tuple(p for p in wanted if p not in done)
    cand, jp = policies.prices[candidate], policies.prices[judge]
    cand_usd = judge_usd = 0.0
    for prompt in todo:
        tokens = count_prompt_tokens([{"role": "user", "content": prompt}])
        cand_usd += tokens * cand.input_per_token + max_tokens * cand.output_per_token
        judge_usd += ((tokens + max_tokens + JUDGE_OVERHEAD_TOKENS) * jp.input_per_token
                      + judge_max_tokens * jp.output_per_token)
    return BuildPlan(candidate, judge, todo, len(wanted) - len(todo), max_tokens, cand_usd, judge_usd)


@dataclass
class Progress:
    total: int
    sent: int = 0
    graded: int = 0
    failed: int = 0
    spent_usd: float = 0.0
    state: str = "running"  # running | done | failed
    errors: list[str] = field(default_factory=list)  # the first few

    def public(self) -> dict[str, object]:
        return {"state": self.state, "total": self.total, "sent": self.sent, "graded": self.graded,
                "failed": self.failed, "spent_usd": round(self.spent_usd, 9), "errors": self.errors}


async def run_build(plan: BuildPlan, upstream: Upstream, profiles: ProfileService, *, rubric: str,
                    concurrency: int = 4, judge_max_tokens: int = 200,
                    on_progress: Callable[[Progress], None] | None = None) -> Progress:
    """Send, grade and write, ``concurrency`` prompts at a time, a batch of rows per write."""
    progress = Progress(total=len(plan.prompts))
    slots = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> ProfileRowIn | None:
        async with slots:
            messages = [{"role": "user", "content": prompt}]
            try:
                answer = await upstream.answer(candidate=plan.candidate, messages=messages,
                                               params={"max_tokens": plan.max_tokens})
            except GatewayError as exc:
                return _failed(progress, f"{plan.candidate}: {exc.body.message}")
            progress.spent_usd += answer.cost_usd or 0.0
            verdict = await run_judge(upstream, plan.judge, judge_messages(prompt, answer.text, rubric),
                                      judge_max_tokens)
            progress.spent_usd += verdict.cost_usd
            if verdict.grade is None:
                return _failed(progress, f"judge {plan.judge}: {verdict.status}: {verdict.error}")
            return ProfileRowIn(prompt=prompt, score=verdict.grade)

    batch = max(1, concurrency * 2)
    try:
        for start in range(0, len(plan.prompts), batch):
            chunk = plan.prompts[start:start + batch]
            rows = [r for r in await asyncio.gather(*(one(p) for p in chunk)) if r is not None]
            progress.sent += len(chunk)
            if rows:
                await profiles.append(model=plan.candidate, rows=rows, source=SOURCE)
                progress.graded += len(rows)
            if on_progress is not None:
                on_progress(progress)
    except Exception as exc:
        progress.state = "failed"
        progress.errors.append(str(exc)[:300])
        raise
    progress.state = "done"
    return progress


def _failed(progress: Progress, error: str) -> None:
    progress.failed += 1
    if len(progress.errors) < 5:
        progress.errors.append(error[:300])
    return None
