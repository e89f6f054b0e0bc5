"""The value model as a library user (the gateway) sees it: one typed boundary that both
implementations satisfy, :class:`valuemodel.V0` (torch) and :class:`valuemodel.infer.V0Runtime`
(onnxruntime + numpy). ``encode`` returns features as an array-like (a numpy array, or a CPU
torch tensor, which ``np.asarray`` views without copying); ``fit_profile`` and ``predict`` take
either. tests/test_valuemodel_numpy_parity.py checks both against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from valuemodel.heads.base import ProfileState


@runtime_checkable
class ValueModel(Protocol):
    fingerprint: str  # of the features (backbone + adapter): profile states and caches key on it

    @property
    def feature_dim(self) -> int: ...

    def encode(self, texts: list[str], batch_size: int = 32) -> ArrayLike:
        """texts -> features (B, F) float32; one backbone pass per text."""
        ...

    def fit_profile(self, features: ArrayLike, scores: Sequence[float]) -> ProfileState:
        """Profile rows' features (N, F) with their scores (N,) in [0, 1] -> a fitted state."""
        ...

    def predict(self, states: list[ProfileState], query: ArrayLike) -> np.ndarray:
        """Query features (Q, F) -> P(success) (M, Q), one row per state."""
        ...

    def with_head(self, head: str, features: str | None = None) -> "ValueModel":
        """The same backbone and adapter with another head (e.g. ``knn``)."""
        ...
