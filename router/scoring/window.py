"""Which profile rows form a candidate's active window: the window policies (pure functions).

Under bandit feedback a candidate is graded only on the prompts the router already sends it, so
a window of its most recent rows collapses onto those prompts: its P elsewhere drifts to
whatever those prompts say, and it never gets the rows that would correct that. The policies
(``window:`` in a policy of policies.yaml, see :class:`~router.policy_sections.WindowSpec`):

- ``recent``: the ``size`` most recent rows (uploads, feedback, judge and shadow grades alike).
- ``keep_seed``: up to ``seed_share`` of the window is kept for the most recent uploaded rows
  (the seed profile), the rest are the most recent other rows (filled up from either side).
- ``balanced``: the ``history x size`` most recent rows are clustered by their prompts'
  features (k-means, ``clusters``, seeded, deterministic); the window takes the clusters in
  turn, most recent row of each first, so no kind of prompt crowds the others out.
- ``decay``: rows drawn without replacement with weight ``0.5 ** (age / half_life)`` (age = how
  many newer rows there are), seeded by the row ids, so the same rows give the same window.

Each returns indices into the candidate rows (given oldest first), in ascending order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router.policy_sections import WindowSpec

SEED_SOURCES = frozenset({"upload", "build"})  # uploaded rows and `profile build` rows


@dataclass(frozen=True)
class WindowRow:
    id: int
    source: str


def history_rows(spec: WindowSpec, size: int) -> int:
    """How many of the most recent rows a policy looks at."""
    return size if spec.policy == "recent" else size * spec.history


def needs_features(spec: WindowSpec) -> bool:
    return spec.policy == "balanced"


def select_window(rows: Sequence[WindowRow], size: int, spec: WindowSpec,
                  features: np.ndarray | None = None) -> list[int]:
    """Indices of the window's rows among ``rows`` (oldest first), ascending. ``features``
    (N, F) are the rows' prompt features, needed by ``balanced``."""
    n = len(rows)
    if n <= size:
        return list(range(n))
    if spec.policy == "recent":
        return list(range(n - size, n))
    if spec.policy == "keep_seed":
        return _keep_seed(rows, size, spec.seed_share)
    if spec.policy == "balanced":
        if features is None:
            raise ValueError("the balanced window needs the rows' features")
        return _balanced(np.asarray(features, np.float32), size, spec.clusters)
    if spec.policy == "decay":
        return _decay(rows, size, spec.half_life)
    raise ValueError(f"unknown window policy {spec.policy!r}")


def _keep_seed(rows: Sequence[WindowRow], size: int, share: float) -> list[int]:
    seed = [i for i, r in enumerate(rows) if r.source in SEED_SOURCES]
    other = [i for i, r in enumerate(rows) if r.source not in SEED_SOURCES]
    keep = min(len(seed), int(round(share * size)))
    take_other = min(len(other), size - keep)
    keep = min(len(seed), size - take_other)  # fewer learned rows than slots: more seed rows
    chosen = (seed[len(seed) - keep:] if keep else []) + (other[len(other) - take_other:] if take_other else [])
    return sorted(chosen)


def _balanced(features: np.ndarray, size: int, clusters: int) -> list[int]:
    labels = kmeans_labels(features, min(clusters, len(features)))
    # Per cluster, its rows newest first; take one from each cluster in turn.
    queues = [list(np.flatnonzero(labels == k)[::-1]) for k in range(int(labels.max()) + 1)]
    queues = [q for q in queues if q]
    chosen: list[int] = []
    while len(chosen) < size:
        for q in queues:
            if q and len(chosen) < size:
                chosen.append(int(q.pop(0)))
    return sorted(chosen)


def _decay(rows: Sequence[WindowRow], size: int, half_life: float) -> list[int]:
    n = len(rows)
    age = np.arange(n - 1, -1, -1, dtype=float)  # (N,) newest has age 0
    weight = 0.5 ** (age / half_life)
    rng = np.random.default_rng([int(rows[0].id), int(rows[-1].id), n])
    # Weighted sampling without replacement (Efraimidis-Spirakis): the `size` largest u^(1/w).
    keys = np.log(rng.random(n)) / weight
    return sorted(int(i) for i in np.argsort(-keys)[:size])


PROJECTED_DIM = 64


@functools.lru_cache(maxsize=4)
def _projection(dim: int) -> np.ndarray:
    """(dim, PROJECTED_DIM) Gaussian, scaled; the same for every call with this ``dim``."""
    return (np.random.default_rng(dim).normal(size=(dim, PROJECTED_DIM)) / np.sqrt(PROJECTED_DIM)).astype(np.float32)


def kmeans_labels(x: np.ndarray, k: int, *, iterations: int = 12) -> np.ndarray:
    """k-means cluster of each row of ``x`` (N, F) in cosine geometry (wide features through a
    fixed random projection to PROJECTED_DIM dimensions); k-means++ start from a fixed seed, so
    the same rows always give the same clusters. (N,) int labels."""
    n = len(x)
    if k <= 1 or n <= 1:
        return np.zeros(n, dtype=int)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # (N, F) cosine geometry
    if x.shape[1] > PROJECTED_DIM:  # a fixed random projection keeps distances, at a fraction of the cost
        x = x @ _projection(x.shape[1])  # (N, P)
    rng = np.random.default_rng(0)
    centres = [x[int(rng.integers(n))]]
    d2 = np.sum((x - centres[0]) ** 2, axis=1)  # (N,)
    for _ in range(1, k):
        if d2.sum() <= 0:
            break
        centres.append(x[int(rng.choice(n, p=d2 / d2.sum()))])
        d2 = np.minimum(d2, np.sum((x - centres[-1]) ** 2, axis=1))
    c = np.stack(centres)  # (K, F)
    labels = np.zeros(n, dtype=int)
    for _ in range(iterations):
        dist = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]  # (N, K)
        new = np.argmin(dist, axis=1)
        if np.array_equal(new, labels) and _ > 0:
            break
        labels = new
        for j in range(len(c)):
            members = x[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return labels
