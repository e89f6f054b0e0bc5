"""Predicted vs judged, per candidate, over a sliding window of judge grades.

Each judged answer (judge and shadow grades) adds (P the router predicted for that candidate on
that request, the judge's grade). Per candidate, over its last ``window`` pairs:
``error = |mean predicted - mean judged|`` (``v0_calibration_error{model}``). When the judged mean
falls more than ``alert_drop`` below the predicted mean (with at least ``min_n`` pairs), a
warning is logged once, and again only after it recovered; ``snapshot`` gives the evidence the
admin status and the dashboard show.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    n: int
    predicted: float
    judged: float
    error: float
    alert: bool  # judged success dropped past the setting


class Calibration:
    def __init__(self, *, window: int, min_n: int, alert_drop: float,
                 on_error: Callable[[str, float], None] | None = None) -> None:
        self.window, self.min_n, self.alert_drop = window, min_n, alert_drop
        self._pairs: dict[str, deque[tuple[float, float]]] = {}
        self._alerted: set[str] = set()
        self._on_error = on_error  # e.g. the gauge's setter

    def add(self, model: str, predicted: float | None, judged: float) -> None:
        if predicted is None:
            return
        pairs = self._pairs.setdefault(model, deque(maxlen=self.window))
        pairs.append((predicted, judged))
        w = self.of(model)
        assert w is not None
        if self._on_error is not None:
            self._on_error(model, w.error)
        if w.alert and model not in self._alerted:
            self._alerted.add(model)
            log.warning("judged success of %s dropped: predicted %.3f, judged %.3f over its last %d graded "
                        "answers (alert at a drop of %.3f)", model, w.predicted, w.judged, w.n, self.alert_drop)
        elif not w.alert and model in self._alerted:
            self._alerted.discard(model)
            log.info("judged success of %s recovered: predicted %.3f, judged %.3f over %d", model,
                     w.predicted, w.judged, w.n)

    def of(self, model: str) -> Window | None:
        pairs = self._pairs.get(model)
        if not pairs:
            return None
        n = len(pairs)
        predicted = sum(p for p, _ in pairs) / n
        judged = sum(y for _, y in pairs) / n
        alert = n >= self.min_n and predicted - judged > self.alert_drop
        return Window(n, round(predicted, 6), round(judged, 6), round(abs(predicted - judged), 6), alert)

    def snapshot(self) -> dict[str, Window]:
        return {m: w for m in sorted(self._pairs) if (w := self.of(m)) is not None}
