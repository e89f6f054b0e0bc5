"""kNN baseline: similarity-weighted mean score of the nearest profile rows."""

from __future__ import annotations

from ..configs import KNNConfig  # noqa: F401  (re-exported)

import numpy as np
import torch
from torch.nn import functional as F

from .base import ProfileState, check_states


class KNNHead:
    name = "knn"

    def __init__(self, config: KNNConfig | None = None):
        self.config = config or KNNConfig()

    @torch.no_grad()
    def fit(self, features: torch.Tensor, scores: torch.Tensor, fingerprint: str) -> ProfileState:
        x = F.normalize(features.float(), dim=-1)  # (N, F)
        return ProfileState(self.name, fingerprint, len(x), {"x": x, "y": scores.float()})

    @torch.no_grad()
    def predict(self, states: list[ProfileState], query: torch.Tensor) -> np.ndarray:
        check_states(states, self.name)
        c = self.config
        q = F.normalize(query.float(), dim=-1)  # (Q, F)
        out = np.empty((len(states), len(q)), dtype=np.float32)
        for m, s in enumerate(states):
            x, y = s.data["x"], s.data["y"]  # (N, F), (N,)
            sim = q @ x.T  # (Q, N)
            k = min(c.k, len(y))
            top, idx = sim.topk(k, dim=-1)  # (Q, k)
            w = torch.exp((top - top[:, :1]) / c.temperature)  # (Q, k), max weight 1
            p = ((w * y[idx]).sum(-1) + c.prior * y.mean()) / (w.sum(-1) + c.prior)  # (Q,)
            out[m] = p.numpy()
        return out
