"""Residual query adapter (V0 paper): K learned static queries plus a per-prompt offset.

The offset comes from the pooled embedding through a bottleneck MLP whose last layer starts at
zero, so an untrained adapter uses exactly the static queries. The queries cross-attend over the
backbone's token states (padding masked), with LayerNorms on queries and keys; the output is the
K attended vectors, flattened to K * d features. To keep training cheap on a CPU, token states
are first projected on a fixed PCA basis (``token_dim`` wide, fitted once on the training
prompts' token states and stored with the weights); keys and values are learned from there.
With ``pooled_skip`` each query's output also gets a learned linear map of the pooled embedding,
so the token-level attention adds to, rather than replaces, what the sentence embedding knows.
"""

from __future__ import annotations

from .configs import AdapterConfig  # noqa: F401  (re-exported)

import torch
from torch import nn
from torch.nn import functional as F


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
        width = c.token_dim or c.hidden_size
        if c.token_dim:  # frozen PCA basis of token states, fitted on the training data
            self.register_buffer("token_mean", torch.zeros(c.hidden_size))  # (H,)
            self.register_buffer("token_basis", torch.eye(c.hidden_size, c.token_dim))  # (H, P)
        self.w_k = nn.Linear(width, c.dim, bias=False)
        self.w_v = nn.Linear(width, c.dim)
        self.w_o = nn.Linear(c.dim, c.dim)
        if c.pooled_skip:  # start from the pooled embedding; attention output starts at zero
            self.w_s = nn.Linear(c.hidden_size, c.n_queries * c.dim)
            nn.init.zeros_(self.w_o.weight)
            nn.init.zeros_(self.w_o.bias)
        self.ln_out = nn.LayerNorm(c.dim)

    def query_vectors(self, pooled: torch.Tensor) -> torch.Tensor:
        """Static queries plus the prompt's offset. pooled (B, H) -> (B, K, d)."""
        B = pooled.shape[0]
        K, d = self.config.n_queries, self.config.dim
        return self.queries.unsqueeze(0) + self.offset(pooled).view(B, K, d)  # (B, K, d)

    def train(self, mode: bool = True):
        self._fused = None
        return super().train(mode)

    @torch.no_grad()
    def _fused_kv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference weights (2d, H) and bias (2d,) of keys|values straight from token states."""
        if getattr(self, "_fused", None) is None:
            w = torch.cat([self.w_k.weight, self.w_v.weight]) @ self.token_basis.T  # (2d, H)
            bias = torch.cat([torch.zeros_like(self.w_v.bias), self.w_v.bias]) - w @ self.token_mean  # (2d,)
            self._fused = (w.contiguous(), bias)
        return self._fused

    def project_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., P) on the fixed basis; identity when the projection is off."""
        if not self.config.token_dim:
            return tokens
        return (tokens - self.token_mean) @ self.token_basis

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor, projected: bool = False
    ) -> torch.Tensor:
        """tokens (B, T, H) (or (B, T, P) when ``projected``), mask (B, T) bool (True = real
        token), pooled (B, H) -> features (B, K * d)."""
        c = self.config
        B, T, _ = tokens.shape
        nh, hd = c.n_heads, c.dim // c.n_heads
        q = self.w_q(self.ln_q(self.query_vectors(pooled)))  # (B, K, d)
        if not projected and c.token_dim and not self.training:
            w, b = self._fused_kv()  # projection folded into keys/values: one (H, 2d) matmul
            k, v = F.linear(tokens, w, b).split(c.dim, dim=-1)  # (B, T, d) each
            k = self.ln_k(k)
        else:
            if not projected:
                tokens = self.project_tokens(tokens)  # (B, T, P)
            k = self.ln_k(self.w_k(tokens))  # (B, T, d)
            v = self.w_v(tokens)  # (B, T, d)
        q = q.view(B, c.n_queries, nh, hd).transpose(1, 2)  # (B, nh, K, hd)
        k = k.view(B, T, nh, hd).transpose(1, 2)  # (B, nh, T, hd)
        v = v.view(B, T, nh, hd).transpose(1, 2)  # (B, nh, T, hd)
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, T), True = attend
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, nh, K, hd)
        out = out.transpose(1, 2).reshape(B, c.n_queries, c.dim)  # (B, K, d)
        out = self.w_o(out)  # (B, K, d)
        if c.pooled_skip:
            out = out + self.w_s(pooled).view(B, c.n_queries, c.dim)  # (B, K, d)
        out = self.ln_out(out)  # (B, K, d)
        return F.dropout(out.reshape(B, c.out_dim), c.dropout, self.training)  # (B, K * d)
