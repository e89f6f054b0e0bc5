"""Residual query adapter (V0 paper): K learned static queries plus a per-prompt offset.

The offset comes from the pooled embedding through a bottleneck MLP whose last layer starts at
zero, so an untrained adapter uses exactly the static queries. The queries cross-attend over the
backbone's token states (padding masked), with LayerNorms on queries and keys; the output is the
K attended vectors, flattened to K * d features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class AdapterConfig:
    hidden_size: int = 384  # backbone width H
    n_queries: int = 4  # K
    dim: int = 64  # d, width of each query / output vector
    n_heads: int = 4
    bottleneck: int = 64

    @property
    def out_dim(self) -> int:
        return self.n_queries * self.dim


class QueryAdapter(nn.Module):
    def __init__(self, config: AdapterConfig):
        super().__init__()
        self.config = config
        c = config
        assert c.dim % c.n_heads == 0, "dim must be divisible by n_heads"
        self.queries = nn.Parameter(torch.randn(c.n_queries, c.dim) * 0.5)  # (K, d)
        self.offset = nn.Sequential(
            nn.Linear(c.hidden_size, c.bottleneck), nn.GELU(), nn.Linear(c.bottleneck, c.n_queries * c.dim)
        )
        nn.init.zeros_(self.offset[2].weight)
        nn.init.zeros_(self.offset[2].bias)
        self.ln_q = nn.LayerNorm(c.dim)
        self.ln_k = nn.LayerNorm(c.dim)
        self.w_q = nn.Linear(c.dim, c.dim, bias=False)
        self.w_k = nn.Linear(c.hidden_size, c.dim, bias=False)
        self.w_v = nn.Linear(c.hidden_size, c.dim)
        self.w_o = nn.Linear(c.dim, c.dim)
        self.ln_out = nn.LayerNorm(c.dim)

    def query_vectors(self, pooled: torch.Tensor) -> torch.Tensor:
        """Static queries plus the prompt's offset. pooled (B, H) -> (B, K, d)."""
        B = pooled.shape[0]
        K, d = self.config.n_queries, self.config.dim
        return self.queries.unsqueeze(0) + self.offset(pooled).view(B, K, d)  # (B, K, d)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """tokens (B, T, H), mask (B, T) bool (True = real token), pooled (B, H) -> (B, K * d)."""
        c = self.config
        B, T, _ = tokens.shape
        nh, hd = c.n_heads, c.dim // c.n_heads
        q = self.w_q(self.ln_q(self.query_vectors(pooled)))  # (B, K, d)
        k = self.ln_k(self.w_k(tokens))  # (B, T, d)
        v = self.w_v(tokens)  # (B, T, d)
        q = q.view(B, c.n_queries, nh, hd).transpose(1, 2)  # (B, nh, K, hd)
        k = k.view(B, T, nh, hd).transpose(1, 2)  # (B, nh, T, hd)
        v = v.view(B, T, nh, hd).transpose(1, 2)  # (B, nh, T, hd)
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, T), True = attend
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, nh, K, hd)
        out = out.transpose(1, 2).reshape(B, c.n_queries, c.dim)  # (B, K, d)
        out = self.ln_out(self.w_o(out))  # (B, K, d)
        return out.reshape(B, c.out_dim)  # (B, K * d)
