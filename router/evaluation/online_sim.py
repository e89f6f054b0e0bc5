"""One replay of `bench online`: a stream of prompts routed by the gateway's own scorer
(:class:`~router.scoring.v0.V0Scorer` over a SQLite profile store, the policy's window policy,
the gateway's decision and exploration functions), with grades taken from the data.

Regimes (what gets graded, and so joins a profile):
- ``static``: nothing; the seed profiles stay.
- ``bandit``: the answering model's grade (a judge grading every answered request).
- ``explore``: bandit, and with probability E a uniformly drawn candidate answers (routing.explore).
- ``shadow``: bandit, and with probability Q one more candidate (the gateway's shadow rule,
  router/grading/exploration.py; ``novel`` unless --shadow-rule says otherwise) answers off the
  request path; its grade joins its profile, its cost is grading spend, capped
  at ``shadow_budget`` of the answers' spend so far (a candidate whose expected cost would pass
  the cap is not eligible).
- ``full``: every candidate's grade on every request (full information).
- ``target``: bandit with the spend controller (router/spend.py) holding a cost share.
Rows are written and the scorer refreshed every ``refresh_every`` requests (coalesced rebuilds);
the requests of one block are scored in one ``score_many`` call, as the gateway batches them.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine
from sqlmodel import Session, SQLModel

from router.evaluation.aiq import summarise
from router.evaluation.curves import sweep_threshold, sweep_utility
from router.evaluation.online_data import Draw, Fault, Matrices, OnlineData
from router.grading.exploration import SHADOW_RULES, cold_start_scores
from router.policies import CandidateSpec, Policies, PolicyFile, PolicySpec
from router.policy_sections import WindowSpec
from router.routing import decide, explore
from router.spend import SpendController
from router.scoring.base import ScoreQuery
from router.scoring.coverage import novelties
from router.scoring.v0 import V0Scorer
from router.store import profile_crud
from router.store.profile_models import ProfileRow, ProfileRowCreate, ProfileVersion

REGIMES = ("static", "bandit", "explore", "shadow", "full", "target")


@dataclass(frozen=True)
class RunSpec:
    regime: str
    window: WindowSpec
    threshold: float
    profile_size: int = 256
    refresh_every: int = 25
    explore: float = 0.1
    shadow: float = 0.1
    shadow_rule: str = "novel"
    shadow_budget: float | None = 0.04  # shadow spend cap: share of the answers' spend so far
    cost_target: float | None = None  # target: share of always using the strongest candidate


@dataclass
class RunResult:
    checkpoints: list[dict]
    chosen: np.ndarray  # (N,) model index answering each stream request
    prompts: np.ndarray  # (N,) stream-prompt index of each request
    quality: np.ndarray  # (N,)
    cost: np.ndarray  # (N,) USD of the answer
    strongest_cost: np.ndarray  # (N,) USD the strongest candidate would have cost
    grading_cost: np.ndarray  # (N,) USD of shadow calls
    rows_after: dict[int, list[int]] = field(default_factory=dict)  # request -> profile rows per model


def _policies(models: Sequence[str], spec: RunSpec, fallback: str) -> Policies:
    cands = {m: CandidateSpec(model=f"openai/{m}", input_price=0, output_price=0) for m in models}
    pol = PolicySpec(candidates=list(models), threshold=spec.threshold, fallback=fallback,
                     profile_size=spec.profile_size, window=spec.window)
    return Policies(path="bench-online", spec=PolicyFile(default_policy="bench", candidates=cands,
                                                         policies={"bench": pol}), prices={})


class _Store:
    """A SQLite profile store written through the gateway's profile crud."""

    def __init__(self, directory: str) -> None:
        self.engine = create_engine(f"sqlite:///{Path(directory) / 'profiles.db'}")
        SQLModel.metadata.create_all(self.engine, tables=[ProfileRow.__table__, ProfileVersion.__table__])

    def write(self, rows: dict[str, list[tuple[str, float, str]]]) -> None:
        with Session(self.engine) as session:
            for model, items in rows.items():
                if items:
                    profile_crud.add_rows(session=session, rows=[
                        ProfileRowCreate(model=model, prompt=t, score=s, source=src) for t, s, src in items])
                    profile_crud.bump_version(session=session, model=model)
            session.commit()


def simulate(data: OnlineData, v0, d: Draw, spec: RunSpec, *, seed: int, fallback: int,
             seed_rows: dict[int, int], fault: Fault | None, checkpoints: Sequence[int],
             log: Callable[[str], None] = lambda m: None) -> RunResult:
    """Replay ``d``'s stream under ``spec``; ``seed_rows``: model -> how many of the draw's seed
    prompts seed its profile (0: a new model)."""
    models, st = data.models, data.stream
    rng = random.Random(seed * 7919 + REGIMES.index(spec.regime))
    shadow_pick = SHADOW_RULES[spec.shadow_rule]
    n, m_count = len(d.order), len(models)
    expected = st.expected[:, 0]  # (M,) per-model expected cost (the stream folder's mean)
    prices = dict(zip(models, expected.tolist()))
    controller = (SpendController(target_share=spec.cost_target, threshold=spec.threshold)
                  if spec.regime == "target" and spec.cost_target is not None else None)
    with tempfile.TemporaryDirectory(prefix="v0-online-") as tmp:
        store = _Store(tmp)
        store.write({models[m]: [(st.texts[i], float(st.score[m, i]), "upload") for i in d.seed_idx[:k]]
                     for m, k in seed_rows.items()})
        scorer = V0Scorer(v0, store.engine, share_features=False)
        scorer.want(_policies(models, spec, models[fallback]))
        scorer.refresh()
        rows = {m: int(k) for m, k in seed_rows.items()}
        grades: dict[str, list[float]] = {models[m]: [] for m in range(m_count)}
        out = RunResult([], np.zeros(n, int), d.order.copy(), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n))
        marks = sorted({min(c, n) for c in checkpoints})  # past the stream: its end

        def window_rows() -> dict[str, int]:
            return {c: (b.rows if (b := scorer.current(c)) is not None else 0) for c in models}

        def checkpoint(done: int) -> None:
            out.checkpoints.append({"requests": done, **evaluate(data, scorer, window_rows(), prices, grades, fallback,
                                                                 fault if fault and done >= fault.at else None,
                                                                 spec.profile_size)})
            log(f"{spec.regime} seed {seed}: {done} requests, AIQ {out.checkpoints[-1]['aiq']:.4f}")

        start = 0
        if marks and marks[0] == 0:
            checkpoint(0)
        while start < n:
            stop = min(n, start + spec.refresh_every)
            for mk in marks:
                if start < mk < stop:
                    stop = mk
            block = d.order[start:stop]
            scored = scorer.score_many([ScoreQuery(st.texts[i], models, spec.profile_size) for i in block])
            wr = window_rows()
            nov = (novelties(scorer, [st.texts[i] for i in block], models)
                   if spec.regime == "shadow" and spec.shadow_rule == "novel" else None)
            new: dict[str, list[tuple[str, float, str]]] = {c: [] for c in models}
            for j, i in enumerate(block):
                req = start + j
                score = st.score[:, i].copy()  # (M,)
                if fault is not None and fault.applies(req, st.tasks[i]):
                    score[fault.model] = 0.0
                p = cold_start_scores(scored[j].p_success, wr, prices, grades)
                threshold = controller.threshold if controller else spec.threshold
                dec = decide(candidates=models, scores=p, costs=prices, threshold=threshold,
                             fallback=models[fallback])
                if spec.regime == "explore":
                    dec = explore(dec, rate=spec.explore, draw=rng.random())
                c = models.index(dec.chosen)
                out.chosen[req], out.quality[req], out.cost[req] = c, score[c], st.cost[c, i]
                out.strongest_cost[req] = st.cost[fallback, i]
                if controller:
                    controller.observe(cost=float(st.cost[c, i]), strongest_cost=float(st.cost[fallback, i]))
                budget = (None if spec.shadow_budget is None else
                          spec.shadow_budget * out.cost[:req + 1].sum() - out.grading_cost[:req].sum())
                graded = _graded(spec, c, models, rows, rng, shadow_pick, prices, budget,
                                 nov[j] if nov is not None else None)
                for g in graded:
                    new[models[g]].append((st.texts[i], float(score[g]), "judge" if g == c else "shadow"))
                    grades[models[g]].append(float(score[g]))
                    rows[g] = rows.get(g, 0) + 1
                    if g != c:
                        out.grading_cost[req] += st.cost[g, i]
            if spec.regime != "static":
                store.write(new)
                scorer.refresh()
            start = stop
            if start in marks:
                checkpoint(start)
            if start in (100, 250):
                out.rows_after[start] = [rows.get(m, 0) for m in range(m_count)]
        store.engine.dispose()
    return out


def _graded(spec: RunSpec, chosen: int, models: Sequence[str], rows: dict[int, int], rng: random.Random,
            shadow_pick, prices: dict[str, float], budget: float | None, novelty: dict[str, float] | None = None) -> list[int]:
    if spec.regime == "static":
        return []
    if spec.regime == "full":
        return list(range(len(models)))
    graded = [chosen]
    if spec.regime == "shadow" and rng.random() < spec.shadow:
        extra = {"novelties": novelty} if spec.shadow_rule == "novel" else {}
        other = shadow_pick(models[chosen], models, {models[m]: r for m, r in rows.items()}, rng,
                            costs=prices, budget=budget, **extra)
        if other is not None:
            graded.append(models.index(other))
    return graded


def evaluate(data: OnlineData, scorer: V0Scorer, rows: dict[str, int], prices: dict[str, float],
             grades: dict[str, list[float]], fallback: int, fault: Fault | None, size: int) -> dict:
    """AIQ and cost % at the strongest quality on the eval prompts with the scorer's states now
    (threshold and utility rules swept, their hull, as `bench routing` reports V0)."""
    ev: Matrices = data.eval
    models = data.models
    scored = scorer.score_many([ScoreQuery(t, models, size) for t in ev.texts])
    p = np.array([[cold_start_scores(r.p_success, rows, prices, grades)[c] for c in models] for r in scored]).T  # (M, E)
    score = fault.eval_score(ev) if fault is not None else ev.score
    cost, quality = [], []
    for curve in (sweep_threshold(p, ev.expected, ev.cost, score, fallback=fallback),
                  sweep_utility(p, ev.expected, ev.cost, score)):
        cost.append(curve.cost)
        quality.append(curve.quality)
    c_max = float(ev.cost.mean(axis=1).max())
    single_q = score.mean(axis=1)
    strongest = int(max(range(len(models)), key=lambda i: (single_q[i], -ev.cost[i].mean())))
    s = summarise(np.concatenate(cost) / c_max, np.concatenate(quality),
                  strongest_cost=float(ev.cost[strongest].mean()) / c_max, strongest_quality=float(single_q[strongest]))
    return {"aiq": s.aiq, "cost_pct_at_strongest": s.cost_pct_at_strongest_quality}
