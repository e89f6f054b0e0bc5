"""The learning loop's Prometheus metrics, registered in the app's registry (``GET /metrics``):

- ``v0_grades_total{kind, status}``: judge and shadow grades by outcome (``ok``, ``judge_error``,
  ``bad_reply``, ``shadow_error``);
- ``v0_grading_skipped_total{kind, reason}``: grades not attempted: ``budget`` (the day's cap is
  spent), ``queue_full``, ``tools`` (shadow calls skip requests with tools unless the policy
  allows them), ``no_candidate`` (no other candidate to shadow), ``error`` (a bug, logged);
- ``v0_grading_spend_usd_total{kind}``: USD spent on the judge (``judge``) and on shadow answers
  (``shadow``);
- ``v0_calibration_error{model}``: |mean predicted - mean judged| over the model's last graded
  answers (router/grading/drift.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class GradingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.grades = Counter("v0_grades", "Judge and shadow grades by outcome", ["kind", "status"],
                              registry=registry)
        self.skipped = Counter("v0_grading_skipped", "Grades not attempted", ["kind", "reason"],
                               registry=registry)
        self.spend = Counter("v0_grading_spend_usd", "USD spent on the judge and on shadow answers", ["kind"],
                             registry=registry)
        self.calibration_error = Gauge("v0_calibration_error", "|mean predicted - mean judged| over a window",
                                       ["model"], registry=registry, multiprocess_mode="livemax")

    def set_calibration_error(self, model: str, error: float) -> None:
        self.calibration_error.labels(model).set(error)
