"""``GET /metrics``: Prometheus metrics, one registry per app (created by the factory, not at import).

Counted on the request path:
- ``v0_requests_total{policy, model, status, surface}``: every request that got a decision row
  (``policy`` is ``none`` for a candidate named directly; ``model`` the one that answered, else the
  one chosen; ``status`` the row's: ok, upstream_error, upstream_timeout, stream_error,
  client_closed; ``surface``: chat, responses, messages, embeddings);
- ``v0_decision_seconds``: request receipt to routing decision (scoring included);
- ``v0_upstream_seconds{model}``: the upstream call, to the last byte for streams;
- ``v0_feedback_total{model}``: grades received;
- ``v0_rate_limited_total{code}``: requests refused by a key's limits;
- ``v0_scorer_fallbacks_total{reason}``: requests routed without scores (scorer_timeout,
  scorer_error, scorer_circuit_open, scorer_overloaded, profiles_unavailable);
- ``v0_scoring_batch_size``: chat requests scored together in one batch (histogram).
Read from the gateway's state at each scrape:
- ``v0_decision_log_pending`` / ``_dropped`` / ``_quarantined`` / ``_written``: the decision writer;
- ``v0_profile_version{model}``: the profile version each candidate is scored with;
- ``v0_scorer_breaker_open``: 1 while the scorer's circuit breaker is open;
- ``v0_scorer_shed{policy, model}``: requests shed without scores (queue full) to each candidate;
- ``v0_limits_shared``: 1 while per-key limits are counted in Redis, 0 while on this replica's
  counters because Redis is unreachable (absent without ``V0_REDIS_URL``);
  ``v0_limits_shared_failures``: Redis calls for limits that failed.
With ``serve --workers N`` (N > 1) the parent sets ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multiprocess mode, see ``router/serve.py``): every worker's counters and histograms go to files
there, a scrape reaching any worker sums them all, and each worker copies its state figures into
multiprocess gauges every ``STATE_EVERY_S`` (summed over live workers; profile versions: the lowest;
breaker: the highest), removed when the worker stops gracefully.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

router = APIRouter()

STATE_EVERY_S = 1.0  # multiprocess mode: how often a worker publishes its state figures
# The state figures as multiprocess gauges: labels, and how the workers' values combine.
_STATE_GAUGES = {**{f"v0_decision_log_{n}": (f"Decision rows {n}", (), "livesum")
                    for n in ("pending", "dropped", "quarantined", "written")},
                 "v0_profile_version": ("Profile version scored with", ("model",), "livemin"),
                 "v0_scorer_breaker_open": ("1 while the scorer's breaker is open", (), "livemax"),
                 "v0_limits_shared": ("1 while limits are counted in Redis", (), "livemin"),
                 "v0_limits_shared_failures": ("Redis calls for limits that failed", (), "livesum"),
                 "v0_scorer_shed": ("Requests shed without scores (queue full)", ("policy", "model"), "livesum")}
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, state: Any) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("v0_requests", "Requests with a decision row",
                                ["policy", "model", "status", "surface"], registry=self.registry)
        self.decision_seconds = Histogram("v0_decision_seconds", "Receipt to routing decision",
                                          buckets=_SECONDS, registry=self.registry)
        self.upstream_seconds = Histogram("v0_upstream_seconds", "Upstream call (streams: to the last byte)",
                                          ["model"], buckets=_SECONDS, registry=self.registry)
        self.feedback = Counter("v0_feedback", "Grades received", ["model"], registry=self.registry)
        self.rate_limited = Counter("v0_rate_limited", "Requests refused by a key's limits", ["code"],
                                    registry=self.registry)
        self.scorer_fallbacks = Counter("v0_scorer_fallbacks", "Requests routed without scores", ["reason"],
                                        registry=self.registry)
        self.scoring_batch = Histogram("v0_scoring_batch_size", "Chat requests scored together in one batch",
                                       buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry)
        self.multiprocess = bool(state.settings.prometheus_multiproc_dir)
        self._collector = _StateCollector(state)
        if self.multiprocess:
            self._gauges = {name: Gauge(name, doc, labels, registry=self.registry, multiprocess_mode=mode)
                            for name, (doc, labels, mode) in _STATE_GAUGES.items()}
        else:
            self.registry.register(self._collector)

    def exposition(self) -> bytes:
        """The text a scrape returns: this process's registry, or every worker's files."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

    def publish_state(self) -> None:
        """Multiprocess mode: copy this worker's state figures into the shared gauges."""
        for family in self._collector.collect():
            gauge = self._gauges[family.name]
            for sample in family.samples:
                (gauge.labels(*sample.labels.values()) if sample.labels else gauge).set(sample.value)

    def close(self) -> None:
        """Multiprocess mode: this worker's live gauges leave the sums (a graceful stop)."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())


class _StateCollector(Collector):
    """Figures the gateway already keeps, read at scrape time (nothing on the request path)."""

    def __init__(self, state: Any) -> None:
        self._state = state  # the app's state: writer, scorer and scoring guard, once started

    def collect(self) -> Iterator[Any]:
        writer = getattr(self._state, "writer", None)
        if writer is not None:
            for name, value in (("pending", writer.pending), ("dropped", writer.dropped),
                                ("quarantined", writer.quarantined), ("written", writer.written)):
                yield GaugeMetricFamily(f"v0_decision_log_{name}", f"Decision rows {name}", value=value)
        scorer = getattr(self._state, "scorer", None)
        if scorer is not None:
            versions = GaugeMetricFamily("v0_profile_version", "Profile version scored with", labels=["model"])
            for model, version in sorted(scorer.versions_in_use().items()):
                versions.add_metric([model], version)
            yield versions
        guard = getattr(self._state, "scoring_guard", None)
        if guard is not None:
            yield GaugeMetricFamily("v0_scorer_breaker_open", "1 while the scorer's breaker is open",
                                    value=int(guard.breaker.open))
        if guard is not None:
            shed = GaugeMetricFamily("v0_scorer_shed", "Requests shed without scores (queue full)",
                                     labels=["policy", "model"])
            for (policy, model), n in sorted(guard.recent.shed.items()):
                shed.add_metric([policy, model], n)
            yield shed
        limiter = getattr(self._state, "limiter", None)
        if limiter is not None and limiter.shared is not None:
            yield GaugeMetricFamily("v0_limits_shared", "1 while limits are counted in Redis",
                                    value=int(limiter.backend == "redis"))
            yield GaugeMetricFamily("v0_limits_shared_failures", "Redis calls for limits that failed",
                                    value=limiter.shared_failures)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
