"""Neighbour difficulty: for each training source, the similarity-weighted mean soft label (a
prompt's mean score over that source's models) of a query's k nearest training prompts.

The ridge regressor (difficulty.py) is linear in the pooled features; this is its nonparametric
companion, and each source adds one more difficulty output for the per-candidate calibration.
An identical prompt (cosine > 1 - 1e-5, both rounded to float16) is never its own neighbour,
so profile rows drawn from the training prompts are scored as a new prompt would be. Keys are the last layer's masked mean,
unit length, stored as float16 and held in memory as float32 (R x H x 4 bytes); numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

SELF = 1 - 1e-5  # cosine above which a training prompt is the query itself
CHUNK = 2048  # query rows per similarity block


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def top_k(sim: np.ndarray, k: int, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Similarities (B, R) -> the k most similar columns (B, k) and their softmax-over-similarity
    weights (B, k), unnormalised (1 for the most similar)."""
    idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(sim, idx, 1)
    return idx, np.exp((top - top.max(1, keepdims=True)) / temperature)


@dataclass
class Neighbours:
    keys: np.ndarray  # (R, H), or (R, r) in the PCA subspace: float16, unit rows
    labels: np.ndarray  # (R,) float32 soft labels
    source: np.ndarray  # (R,) int32 in [0, S)
    mean: np.ndarray  # (S,) of the raw outputs over the training prompts (leave-self-out)
    scale: np.ndarray  # (S,)
    k: int = 64
    temperature: float = 0.05
    center: np.ndarray | None = None  # (H,) with ``basis``: keys live in a PCA subspace
    basis: np.ndarray | None = None  # (H, r)

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Last-layer means (B, H) -> unit keys (B, H or r), rounded to float16 as stored."""
        u = unit(x)
        if self.basis is not None:
            u = unit((u - self.center) @ self.basis)
        return u.astype(np.float16)

    @property
    def in_dim(self) -> int:
        """H: the width of the last-layer means it reads."""
        return self.basis.shape[0] if self.basis is not None else self.keys.shape[1]

    @property
    def n_sources(self) -> int:
        return len(self.mean)

    @cached_property
    def _by_source(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per source: unit float32 keys (R_s, H) and the rows' indices (R_s,), made once."""
        keys = unit(self.keys)
        return [(keys[self.source == s], np.flatnonzero(self.source == s)) for s in range(self.n_sources)]

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Last-layer means (B, H) -> kNN mean soft label per source (B, S)."""
        q = unit(self.embed(x))  # rounded as the keys were, so an identical prompt gives 1
        out = np.empty((len(q), self.n_sources), np.float32)
        for s, (ks, rows) in enumerate(self._by_source):
            ys = self.labels[rows]
            k = min(self.k, len(ys) - 1)
            for i in range(0, len(q), CHUNK):
                sim = q[i : i + CHUNK] @ ks.T  # (b, R_s)
                sim[sim > SELF] = -np.inf
                idx, w = top_k(sim, k, self.temperature)  # (b, k)
                out[i : i + CHUNK, s] = (w * ys[idx]).sum(1) / w.sum(1)
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, H) -> (B, S), each output standardised over the training prompts (higher: easier)."""
        return (self.raw(x) - self.mean) / self.scale

    @classmethod
    def build(cls, parts: list[tuple[np.ndarray, np.ndarray]], k: int = 64, temperature: float = 0.05,
              dim: int | None = None) -> "Neighbours":
        """``parts``: per source, (last-layer means (P, H), soft labels (P,)); ``dim``: keep keys in
        the top ``dim`` principal directions of the unit keys (smaller, approximate cosines)."""
        u = np.concatenate([unit(x) for x, _ in parts])
        labels = np.concatenate([np.asarray(y, np.float32) for _, y in parts])
        source = np.concatenate([np.full(len(y), s, np.int32) for s, (_, y) in enumerate(parts)])
        center = basis = None
        if dim is not None and dim < u.shape[1]:
            center = u.mean(0)
            basis = np.linalg.svd(u - center, full_matrices=False)[2][:dim].T.astype(np.float32)  # (H, r)
        S = len(parts)
        nb = cls(None, labels, source, np.zeros(S, np.float32), np.ones(S, np.float32), k, temperature, center, basis)
        nb.keys = nb.embed(u)  # embedding needs center and basis, so the keys come last
        r = np.concatenate([nb.raw(x)[:, s] for s, (x, _) in enumerate(parts)])  # each source on its own prompts
        nb.mean = np.array([r[source == s].mean() for s in range(S)], np.float32)
        nb.scale = np.array([max(r[source == s].std(), 1e-6) for s in range(S)], np.float32)
        return nb

    def arrays(self) -> dict[str, np.ndarray]:
        return {"nb_keys": self.keys, "nb_labels": self.labels, "nb_source": self.source, "nb_mean": self.mean,
                "nb_scale": self.scale, "nb_k": np.array([self.k], np.int32),
                "nb_temperature": np.array([self.temperature], np.float32)} | (
                    {"nb_center": self.center, "nb_basis": self.basis} if self.basis is not None else {})

    @classmethod
    def from_arrays(cls, a: dict) -> "Neighbours | None":
        if "nb_keys" not in a:
            return None
        return cls(np.asarray(a["nb_keys"], np.float16), np.asarray(a["nb_labels"], np.float32),
                   np.asarray(a["nb_source"], np.int32), np.asarray(a["nb_mean"], np.float32),
                   np.asarray(a["nb_scale"], np.float32), int(a["nb_k"][0]), float(a["nb_temperature"][0]),
                   *(np.asarray(a[k], np.float32) if k in a else None for k in ("nb_center", "nb_basis")))
