"""Built-in in-context head: differentiable attention over the profile rows.

Each of ``n_heads`` heads projects rows to a cosine space with its own learned temperature; the
query attends over the profile rows and reads their labels. Per head it reports the attended
label mean (as a logit) and how close the profile is (log-mean-exp of similarities); with the
profile's base rate, a small MLP turns these into the success logit. Trained jointly with the
adapter; needs no external weights and costs O(N) per query row.
"""

from __future__ import annotations

from ..configs import ICLConfig  # noqa: F401  (re-exported)

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .base import ProfileState, check_states

EPS = 1e-3  # label-mean clamp before the logit (infer/modules.py uses the same)


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(EPS, 1 - EPS)
    return torch.log(p) - torch.log1p(-p)


class ICLModule(nn.Module):
    def __init__(self, config: ICLConfig):
        super().__init__()
        self.config = config
        c = config
        self.ln = nn.LayerNorm(c.in_dim)
        self.proj = nn.Linear(c.in_dim, c.n_heads * c.dim)
        init_t = torch.log(torch.logspace(0.5, 1.5, c.n_heads))  # temperatures ~3 .. 30
        self.log_temp = nn.Parameter(init_t)
        n_in = 2 * c.n_heads + 1
        self.mlp = nn.Sequential(nn.Linear(n_in, c.hidden), nn.GELU(), nn.Linear(c.hidden, 1))
        self.skip = nn.Linear(n_in, 1)  # linear path, starts as the mean of the head logits
        with torch.no_grad():
            self.skip.weight.zero_()
            self.skip.weight[0, : c.n_heads] = 1.0 / c.n_heads
            self.skip.bias.zero_()
            self.mlp[2].weight.mul_(0.1)
            if c.zero_init:
                self.skip.weight.zero_()
                self.mlp[2].weight.zero_()
                self.mlp[2].bias.zero_()

    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., F) -> unit keys (..., nh, d)."""
        c = self.config
        k = self.proj(self.ln(x)).unflatten(-1, (c.n_heads, c.dim))  # (..., nh, d)
        return F.normalize(k, dim=-1)

    def labels(self, scores: torch.Tensor) -> torch.Tensor:
        return (scores >= 0.5).float() if self.config.binarize else scores.float()

    def logits(
        self, kp: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, kq: torch.Tensor
    ) -> torch.Tensor:
        """kp (B, N, nh, d) profile keys, y (B, N) labels, mask (B, N) bool,
        kq (B, Q, nh, d) query keys -> logits (B, Q)."""
        temp = self.log_temp.exp()  # (nh,)
        s = torch.einsum("bqhd,bnhd->bhqn", kq, kp) * temp[None, :, None, None]  # (B, nh, Q, N)
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
        a = s.softmax(-1)  # (B, nh, Q, N)
        ybar = torch.einsum("bhqn,bn->bhq", a, y)  # (B, nh, Q)
        n = mask.sum(-1).clamp(min=1).float()  # (B,)
        lme = (torch.logsumexp(s, -1) - torch.log(n)[:, None, None]) / temp[None, :, None]  # (B, nh, Q)
        base = (y * mask).sum(-1) / n  # (B,)
        Q = kq.shape[1]
        feats = torch.cat(
            [
                _logit(ybar).transpose(1, 2),  # (B, Q, nh)
                lme.transpose(1, 2),  # (B, Q, nh)
                _logit(base)[:, None, None].expand(-1, Q, 1),  # (B, Q, 1)
            ],
            dim=-1,
        )  # (B, Q, 2 nh + 1)
        return (self.mlp(feats) + self.skip(feats)).squeeze(-1)  # (B, Q)

    def forward(
        self, prof_x: torch.Tensor, prof_y: torch.Tensor, mask: torch.Tensor, query_x: torch.Tensor
    ) -> torch.Tensor:
        """prof_x (B, N, F), prof_y (B, N) scores, mask (B, N), query_x (B, Q, F) -> logits (B, Q)."""
        return self.logits(self.keys(prof_x), self.labels(prof_y), mask, self.keys(query_x))


class ICLHead:
    """Head wrapper: caches the profile keys; scores all states in one batched pass.

    ``parts`` are (module, feature slice) pairs whose logits are summed: one pair for a plain
    head; for the residual head, the adapter-free head over the pooled slice plus the adapter's
    head over the adapter slice.
    """

    def __init__(self, module: ICLModule | None = None, name: str = "icl", parts: list[tuple[ICLModule, slice]] | None = None):
        self.parts = parts if parts is not None else [(module, slice(None))]
        for m, _ in self.parts:
            m.eval()
        self.name = name

    @torch.no_grad()
    def fit(self, features: torch.Tensor, scores: torch.Tensor, fingerprint: str) -> ProfileState:
        x, scores = torch.as_tensor(features).float(), torch.as_tensor(scores)
        keys = [m.keys(x[:, cols]) for m, cols in self.parts]  # each (N, nh, d)
        y = self.parts[0][0].labels(scores)  # (N,)
        return ProfileState(self.name, fingerprint, len(y), {"keys": keys, "y": y})

    @torch.no_grad()
    def predict(self, states: list[ProfileState], query: torch.Tensor) -> np.ndarray:
        check_states(states, self.name)
        query = torch.as_tensor(query)
        if not states:
            return np.zeros((0, len(query)), dtype=np.float32)
        M = len(states)
        N = max(s.n_rows for s in states)
        dev = query.device
        y = torch.zeros(M, N, device=dev)  # (M, N)
        mask = torch.zeros(M, N, dtype=torch.bool, device=dev)  # (M, N)
        for m, s in enumerate(states):
            y[m, : s.n_rows] = s.data["y"]
            mask[m, : s.n_rows] = True
        logits = torch.zeros(M, len(query), device=dev)  # (M, Q)
        for i, (module, cols) in enumerate(self.parts):
            nh, d = module.config.n_heads, module.config.dim
            kp = torch.zeros(M, N, nh, d, device=dev)  # (M, N, nh, d)
            for m, s in enumerate(states):
                kp[m, : s.n_rows] = s.data["keys"][i]
            kq = module.keys(query[:, cols].float()).unsqueeze(0).expand(M, -1, -1, -1)  # (M, Q, nh, d)
            logits += module.logits(kp, y, mask, kq)
        return torch.sigmoid(logits).cpu().numpy()  # (M, Q)
