"""`v0-gateway profile build --candidate NAME`: a profile for a new candidate (router/grading/build.py).

Shows what it will send and its cost at most, asks before spending (``--yes`` skips the question;
``--dry-run`` only shows), then sends the shipped prompt set to the candidate and the answers to
the judge, with a progress bar on stderr. Interrupted, it continues where it stopped when run again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from router.grading.build import Progress, plan_build, run_build
from router.policies import load_policies
from router.policy_sections import DEFAULT_RUBRIC
from router.profiles.service import ProfileService
from router.protocol import GatewayError
from router.settings import Settings
from router.store.db import make_engine
from router.upstream import Upstream


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", required=True, help="a candidate of policies.yaml")
    parser.add_argument("--judge", help="the judging candidate (default: grading.judge of policies.yaml)")
    parser.add_argument("--policies", help="default: V0_POLICIES or policies.yaml")
    parser.add_argument("--database-url", help="default: V0_DATABASE_URL or sqlite:///./v0.db")
    parser.add_argument("--max-tokens", type=int, default=512, help="the candidate's answer limit (default 512)")
    parser.add_argument("--limit", type=int, help="send only the first N prompts of the set")
    parser.add_argument("--concurrency", type=int, default=4, help="prompts in flight at once (default 4)")
    parser.add_argument("--yes", action="store_true", help="do not ask before spending")
    parser.add_argument("--dry-run", action="store_true", help="show the plan and its cost, send nothing")


def bar(progress: Progress, width: int = 30) -> str:
    filled = width * progress.sent // max(progress.total, 1)
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {progress.sent}/{progress.total} sent, "
            f"{progress.graded} graded, {progress.failed} failed, ${progress.spent_usd:.4f}")


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    policies = load_policies(args.policies or settings.policies)
    engine = make_engine(args.database_url or settings.database_url, timeout_s=settings.db_timeout_s)
    upstream = Upstream(policies)
    try:
        plan = plan_build(policies, upstream, engine, candidate=args.candidate, judge=args.judge,
                          max_tokens=args.max_tokens, limit=args.limit, judge_max_tokens=settings.judge_max_tokens)
    except GatewayError as exc:
        print(f"v0-gateway profile build: {exc.body.message}", file=sys.stderr)
        return 2
    print(f"{plan.candidate}: {len(plan.prompts)} prompts to send ({plan.done} already built), judged by "
          f"{plan.judge}; at most ${plan.estimate_usd:.4f} (candidate ${plan.candidate_usd:.4f}, judge "
          f"${plan.judge_usd:.4f}; answers of up to {plan.max_tokens} tokens)")
    if args.dry_run or not plan.prompts:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print("not a terminal: pass --yes to spend it", file=sys.stderr)
            return 1
        if input("proceed? [y/N] ").strip().lower() not in ("y", "yes"):
            return 1
    grading = policies.spec.grading
    rubric = grading.rubric if grading else DEFAULT_RUBRIC
    profiles = ProfileService(engine, None)

    def show(progress: Progress) -> None:
        print(bar(progress), end="", file=sys.stderr, flush=True)

    async def build() -> Progress:
        try:
            return await run_build(plan, upstream, profiles, rubric=rubric, concurrency=args.concurrency,
                                   judge_max_tokens=settings.judge_max_tokens, on_progress=show)
        finally:
            await profiles.close()

    progress = asyncio.run(build())
    print(file=sys.stderr)
    print(f"{plan.candidate}: {progress.graded} rows written, {progress.failed} failed "
          f"(run again to retry them), ${progress.spent_usd:.4f} spent")
    for error in progress.errors:
        print(f"  {error}", file=sys.stderr)
    engine.dispose()
    return 0 if progress.failed == 0 else 1
