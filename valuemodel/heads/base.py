"""The head interface: build a state from a profile once, then predict many query rows."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass
class ProfileState:
    """A fitted profile: what a head needs to score query rows for one model."""

    head: str  # head name that built it
    fingerprint: str  # feature fingerprint (backbone + adapter) of the profile rows
    n_rows: int
    data: dict[str, Any] = field(default_factory=dict)


class Head(Protocol):
    name: str

    def fit(self, features: torch.Tensor, scores: torch.Tensor, fingerprint: str) -> ProfileState:
        """features (N, F), scores (N,) in [0, 1] -> state."""
        ...

    def predict(self, states: list[ProfileState], query: torch.Tensor) -> np.ndarray:
        """query (Q, F) -> P(success) (M, Q), one row per state."""
        ...


def as_scores(scores) -> torch.Tensor:
    """ArrayLike (N,) in [0, 1] -> float32 tensor; refuses values outside [0, 1] or NaN."""
    import torch

    return torch.as_tensor(check_scores(scores))


def check_scores(scores) -> np.ndarray:
    """ArrayLike (N,) in [0, 1] -> float32 array; refuses values outside [0, 1] or NaN."""
    y = np.asarray(scores, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {tuple(y.shape)}")
    if np.isnan(y).any() or (y < 0).any() or (y > 1).any():
        raise ValueError("scores must be in [0, 1]")
    return y


def check_states(states: list[ProfileState], head: str) -> None:
    for s in states:
        if s.head != head:
            raise ValueError(f"profile state was built by head {s.head!r}, not {head!r}")


class StatePacks:
    """A head's per-call arrays for a list of states (stacked, padded), built once per list.

    The serving path predicts against the same few state lists over and over (a policy's
    candidates; states are replaced whole, never mutated), so the stacking is cached by the
    states' identities. Entries hold the states weakly: a pack whose states were replaced (a
    profile refresh) is dropped at the next insertion, so old states are not kept alive. A few
    lists at most (LRU), safe across threads."""

    def __init__(self, build, max_entries: int = 8):
        self._build, self._max = build, max_entries
        self._packs: OrderedDict[tuple[int, ...], tuple[tuple[weakref.ref, ...], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, states: list[Any]) -> Any:
        key = tuple(map(id, states))
        with self._lock:
            hit = self._packs.get(key)
            if hit is not None and all(ref() is s for ref, s in zip(hit[0], states)):
                self._packs.move_to_end(key)
                return hit[1]
        pack = self._build(states)
        with self._lock:
            for k in [k for k, (refs, _) in self._packs.items() if any(ref() is None for ref in refs)]:
                del self._packs[k]
            self._packs[key] = (tuple(weakref.ref(s) for s in states), pack)
            while len(self._packs) > self._max:
                self._packs.popitem(last=False)
        return pack
