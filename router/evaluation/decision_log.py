"""Threshold calibration from the gateway's decision log (rows with feedback).

Each logged decision keeps every candidate's p and expected cost, the model that answered and,
once graded, `feedback_score`. Only the answering model's outcome is ever observed, so:
- reliability and ECE per model use (that model's p, feedback) on the rows it answered;
- a candidate threshold is scored row by row: where it picks the model that answered, the
  observed feedback and cost count; where it picks another model, that model's *calibrated* p
  (isotonic regression of feedback on p over the rows it answered; raw p when it answered fewer
  than MIN_ROWS) and its expected cost, scaled by the model's logged actual/expected cost ratio.
Rows are read with SQLAlchemy from the `decision` table; nothing is written.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from router.evaluation.thresholds import choose_threshold, reliability
from router.evaluation.curves import route_threshold, threshold_grid

MIN_ROWS = 5


def read_rows(url: str, policies: list[str] | None = None) -> list[dict]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        table = sa.Table("decision", sa.MetaData(), autoload_with=engine)
        q = (
            sa.select(table.c.policy, table.c.candidates, table.c.answered_model, table.c.chosen_model, table.c.reason,
                      table.c.feedback_score, table.c.cost_usd, table.c.threshold, table.c.created_at)
            .where(table.c.policy.is_not(None), table.c.feedback_score.is_not(None),
                   table.c.answered_model.is_not(None), table.c.status == "ok")
            .order_by(table.c.created_at)
        )
        if policies:
            q = q.where(table.c.policy.in_(policies))
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]
    finally:
        engine.dispose()


def _calibrator(p: np.ndarray, y: np.ndarray, min_rows: int):
    if len(p) < min_rows:
        return lambda x: np.asarray(x, dtype=float)
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    return iso.predict


def calibrate_policy(rows: list[dict], *, target_quality=None, target_cost=None, bins: int = 10, min_rows: int = MIN_ROWS) -> dict:
    """rows: one policy's logged decisions with feedback (see read_rows)."""
    names = [c["name"] for c in rows[-1]["candidates"]]  # the policy's latest candidate list
    rows = [r for r in rows if [c["name"] for c in r["candidates"]] == names and r["answered_model"] in names]
    n = len(rows)
    P = np.array([[c["p_success"] for c in r["candidates"]] for r in rows], dtype=float).T  # (M, N)
    E = np.array([[c["expected_cost"] for c in r["candidates"]] for r in rows], dtype=float).T  # (M, N)
    answered = np.array([names.index(r["answered_model"]) for r in rows])  # (N,)
    y = np.array([r["feedback_score"] for r in rows], dtype=float)  # (N,)
    actual = np.array([np.nan if r["cost_usd"] is None else r["cost_usd"] for r in rows], dtype=float)
    cols = np.arange(n)
    fallbacks = {r["chosen_model"] for r in rows if r["reason"] == "fallback_none_above_threshold"}
    fallback = names.index(fallbacks.pop()) if len(fallbacks) == 1 else None

    calibrated = np.empty_like(P)
    ratio = np.ones(len(names))
    per_model = {}
    for m, name in enumerate(names):
        mine = answered == m
        calibrated[m] = _calibrator(P[m, mine], y[mine], min_rows)(P[m])
        known = mine & ~np.isnan(actual)
        if known.any() and E[m, known].sum() > 0:
            ratio[m] = actual[known].sum() / E[m, known].sum()
        per_model[name] = (
            asdict(reliability(P[m, mine], y[mine], bins)) if mine.any() else {"n": 0, "ece": None}
        )
    observed_cost = np.where(np.isnan(actual), E[answered, cols] * ratio[answered], actual)

    ts = threshold_grid(P)
    cost, quality = [], []
    for t in ts:
        chosen = route_threshold(P, E, t, fallback)
        same = chosen == answered
        quality.append(np.where(same, y, calibrated[chosen, cols]).mean())
        cost.append(np.where(same, observed_cost, E[chosen, cols] * ratio[chosen]).mean())
    choice = choose_threshold(ts, np.array(cost), np.array(quality), target_quality=target_quality, target_cost=target_cost)
    return {
        "candidates": names,
        "fallback": names[fallback] if fallback is not None else "highest p (no fallback decision logged)",
        "current_threshold": rows[-1].get("threshold"),
        "n_prompts": n,
        "answered": {name: int(np.sum(answered == m)) for m, name in enumerate(names)},
        "cost_source": "logged cost_usd where the threshold keeps the logged choice; otherwise expected cost x the model's logged actual/expected ratio",
        "choice": asdict(choice),
        "reliability": per_model,
    }


def calibrate_from_log(url: str, *, target_quality=None, target_cost=None, bins: int = 10, policies=None) -> dict:
    rows = read_rows(url, policies)
    if not rows:
        raise SystemExit("calibrate --decisions: no routed decisions with feedback in the database")
    by_policy: dict[str, list[dict]] = {}
    for r in rows:
        by_policy.setdefault(r["policy"], []).append(r)
    return {
        "source": "decisions",
        "estimator": __doc__.split("\n\n")[1].strip(),
        "policies": {name: calibrate_policy(rs, target_quality=target_quality, target_cost=target_cost, bins=bins)
                     for name, rs in by_policy.items()},
    }
