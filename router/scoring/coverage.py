"""How well a candidate's profile covers a prompt: the shadow rule's measure of what a graded
row would teach (router/grading/exploration.py).

A prompt's *novelty* for a candidate is 1 - the mean cosine similarity of its features to the
``k`` nearest rows of the candidate's current window (1.0 for a candidate with no profile). A
prompt like many the candidate was graded on has novelty near 0; a kind of prompt it has never
been graded on (a task missing from its seed profile, a new model) scores high.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router.scoring.v0 import V0Scorer
from valuemodel.infer.ops import normalize

NEAREST = 8


def novelty(query: np.ndarray, window: np.ndarray | None, k: int = NEAREST) -> float:
    """1 - the mean cosine similarity of ``query`` (F,) to its ``k`` nearest rows of ``window``
    (N, F), both unit-length; 1.0 when the window is empty."""
    if window is None or not len(window):
        return 1.0
    sims = window @ query  # (N,)
    k = min(k, len(sims))
    return float(1.0 - np.partition(sims, len(sims) - k)[-k:].mean())


def novelties(scorer: V0Scorer, texts: Sequence[str], candidates: Sequence[str]) -> list[dict[str, float]]:
    """Each text's novelty for each candidate, against the scorer's current windows. The texts
    are encoded through the scorer's feature cache (a graded row's prompt needs its features
    anyway). One dict per text, in order."""
    if not texts:
        return []
    query = normalize(np.asarray(scorer.features.features(scorer.v0, list(texts), scorer.store), np.float32))  # (B, F)
    windows = {c: (normalize(scorer.window_features(b)) if (b := scorer.current(c)) is not None else None)
               for c in candidates}
    return [{c: novelty(q, windows[c]) for c in candidates} for q in query]
