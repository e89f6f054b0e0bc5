"""The data `bench online` replays: stream and eval matrices, prompt features encoded once, the
seed rows of each run, and faults (a model that degrades on one task).

Every prompt text (stream and eval) goes through the backbone once per run (or never again,
with a feature file): :class:`CachedV0` hands the scorer the stored features, and fits and
predicts with the real V0 (the same object the gateway serves with).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from router.evaluation import costs


@dataclass(frozen=True)
class Matrices:
    """Outcomes of one prompt set, aligned models x prompts."""

    prompt_ids: list[str]
    texts: list[str]
    tasks: list[str]
    score: np.ndarray  # (M, Q) in [0, 1]
    cost: np.ndarray  # (M, Q) USD charged
    expected: np.ndarray  # (M, Q) USD the router expects


@dataclass(frozen=True)
class OnlineData:
    models: list[str]
    stream: Matrices
    eval: Matrices
    cost_source: str


def _matrices(ds, mats: costs.Matrices) -> Matrices:
    ids = list(mats.prompt_ids)
    return Matrices(ids, [ds.prompts[p] for p in ids], [ds.tasks.get(p, "") for p in ids],
                    mats.score, mats.cost, mats.expected)


def load(stream_dir: str, eval_dir: str, *, output_tokens: int = costs.DEFAULT_OUTPUT_TOKENS) -> OnlineData:
    from valuemodel.data import load_dataset

    stream, ev = load_dataset(stream_dir), load_dataset(eval_dir)
    models = sorted(set(stream.models) & set(ev.models))
    if len(models) < 2:
        raise SystemExit(f"bench online: need at least 2 models in both folders, got {models}")
    sm = costs.build(stream, stream, models, output_tokens=output_tokens)
    # The router expects each model's mean cost on the stream folder (what a deployment would know).
    em = costs.build(stream, ev, models, output_tokens=output_tokens)
    return OnlineData(models, _matrices(stream, sm), _matrices(ev, em), em.cost_source)


class CachedV0:
    """A V0 whose ``encode`` looks texts up in features computed once (every other call goes to
    the real V0). ``features``: text -> (F,) float32."""

    def __init__(self, v0, features: dict[str, np.ndarray]) -> None:
        self.v0, self._features = v0, features
        self.fingerprint, self.feature_dim = v0.fingerprint, v0.feature_dim

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._features]
        if missing:
            for t, f in zip(missing, np.asarray(self.v0.encode(list(missing)), np.float32)):
                self._features[t] = f
        if not texts:
            return np.zeros((0, self.feature_dim), np.float32)
        return np.stack([self._features[t] for t in texts])  # (B, F)

    def fit_profile(self, features, scores):
        return self.v0.fit_profile(features, scores)

    def predict(self, states, query) -> np.ndarray:
        return self.v0.predict(states, query)


def encode_once(v0, texts: Sequence[str], cache_file: str | None, log=lambda m: None) -> dict[str, np.ndarray]:
    """text -> features for every text, from ``cache_file`` (an .npz keyed by V0 fingerprint and
    text hash) where present, the rest encoded now (and added to the file)."""
    unique = list(dict.fromkeys(texts))
    keys = {t: hashlib.sha256(t.encode()).hexdigest()[:32] for t in unique}
    stored: dict[str, np.ndarray] = {}
    path = Path(cache_file) if cache_file else None
    if path is not None and path.exists():
        with np.load(path) as data:
            if str(data["fingerprint"]) == v0.fingerprint:
                names, array = data["keys"], data["features"]  # read each array once
                stored = {str(k): array[i] for i, k in enumerate(names)}
    out = {t: stored[keys[t]] for t in unique if keys[t] in stored}
    todo = [t for t in unique if t not in out]
    if todo:
        log(f"encoding {len(todo)} prompts ({len(out)} from the feature file)")
        for start in range(0, len(todo), 256):
            chunk = todo[start:start + 256]
            for t, f in zip(chunk, np.asarray(v0.encode(chunk), np.float32)):
                out[t] = f
        if path is not None:
            allk = {**stored, **{keys[t]: out[t] for t in todo}}
            names = sorted(allk)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, fingerprint=np.array(v0.fingerprint), keys=np.array(names),
                     features=np.stack([allk[k] for k in names]))
    return out


@dataclass(frozen=True)
class Draw:
    """One seed's stream: which prompts seed the profiles and in which order the rest arrive."""

    seed_idx: np.ndarray  # (S,) stream-prompt indices used as seed rows (removed from the stream)
    order: np.ndarray  # (N,) the remaining stream-prompt indices, in arrival order


def draw(stream: Matrices, *, seed: int, seed_rows: int, initial_tasks: Sequence[str] = ()) -> Draw:
    """Seed rows drawn from the stream folder's prompts (only ``initial_tasks`` when given), the
    rest shuffled into the stream; seeded."""
    rng = np.random.default_rng(seed)
    n = len(stream.prompt_ids)
    pool = np.arange(n)
    if initial_tasks:
        pool = pool[np.isin(np.array(stream.tasks), list(initial_tasks))]
        if not len(pool):
            raise SystemExit(f"bench online: no stream prompt has a task in {list(initial_tasks)}")
    seed_idx = rng.choice(pool, size=min(seed_rows, len(pool)), replace=False)
    rest = np.setdiff1d(np.arange(n), seed_idx)
    return Draw(seed_idx, rng.permutation(rest))


@dataclass(frozen=True)
class Fault:
    """From stream request ``at`` on, ``model`` fails every prompt of ``task`` (stream and eval)."""

    at: int
    model: int
    task: str

    def applies(self, request: int, task: str) -> bool:
        return request >= self.at and task == self.task

    def eval_score(self, m: Matrices) -> np.ndarray:
        s = m.score.copy()
        s[self.model, np.array(m.tasks) == self.task] = 0.0
        return s
