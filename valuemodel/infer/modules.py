"""numpy forward passes of the trained modules and the torch-free heads.

Parameters are the checkpoint's arrays (``model.safetensors`` read with safetensors.numpy), keyed
as torch's state_dict names them without the module prefix. Each function mirrors its torch
original in eval mode: ``QueryAdapter.forward`` (adapter.py), ``ICLModule`` / ``ICLHead`` and
``KNNHead`` (heads/).
"""

from __future__ import annotations

import numpy as np

from ..configs import AdapterConfig, ICLConfig, KNNConfig
from ..heads.base import ProfileState, StatePacks, check_states
from .ops import gelu, layer_norm, linear, normalize, sigmoid, softmax


EPS = 1e-3  # as heads/icl.py


def params(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays under ``prefix.`` with the prefix removed (float32)."""
    n = len(prefix) + 1
    return {k[n:]: np.asarray(v, np.float32) for k, v in tensors.items() if k.startswith(prefix + ".")}


class Adapter:
    """Residual query adapter, inference only. tokens (B, T, H), mask (B, T) bool, pooled (B, H)
    -> (B, K d)."""

    def __init__(self, config: AdapterConfig, p: dict[str, np.ndarray]):
        self.c, self.p = config, p
        if config.token_dim:  # PCA projection folded into keys|values, as QueryAdapter._fused_kv
            w = np.concatenate([p["w_k.weight"], p["w_v.weight"]]) @ p["token_basis"].T  # (2d, H)
            bias = np.concatenate([np.zeros_like(p["w_v.bias"]), p["w_v.bias"]]) - w @ p["token_mean"]  # (2d,)
        else:
            w = np.concatenate([p["w_k.weight"], p["w_v.weight"]])  # (2d, H)
            bias = np.concatenate([np.zeros_like(p["w_v.bias"]), p["w_v.bias"]])
        self.kv_w, self.kv_b = np.ascontiguousarray(w.astype(np.float32)), bias.astype(np.float32)

    def __call__(self, tokens: np.ndarray, mask: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        c, p = self.c, self.p
        B, T, _ = tokens.shape
        K, nh, hd = c.n_queries, c.n_heads, c.dim // c.n_heads
        offset = linear(gelu(linear(pooled, p, "offset.0")), p, "offset.2").reshape(B, K, c.dim)
        q = linear(layer_norm(p["queries"][None] + offset, p, "ln_q"), p, "w_q")  # (B, K, d)
        kv = tokens @ self.kv_w.T + self.kv_b  # (B, T, 2d)
        k, v = layer_norm(kv[..., : c.dim], p, "ln_k"), kv[..., c.dim :]  # (B, T, d) each
        q = q.reshape(B, K, nh, hd).transpose(0, 2, 1, 3)  # (B, nh, K, hd)
        k = k.reshape(B, T, nh, hd).transpose(0, 2, 1, 3)  # (B, nh, T, hd)
        v = v.reshape(B, T, nh, hd).transpose(0, 2, 1, 3)  # (B, nh, T, hd)
        s = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(hd))  # (B, nh, K, T)
        s = np.where(mask[:, None, None, :], s, -np.inf)
        out = (softmax(s) @ v).transpose(0, 2, 1, 3).reshape(B, K, c.dim)  # (B, K, d)
        out = linear(out, p, "w_o")
        if c.pooled_skip:
            out = out + linear(pooled, p, "w_s").reshape(B, K, c.dim)
        return layer_norm(out, p, "ln_out").reshape(B, c.out_dim).astype(np.float32)  # (B, K d)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


class ICLModule:
    """The in-context head's module (heads/icl.py), numpy."""

    def __init__(self, config: ICLConfig, p: dict[str, np.ndarray]):
        self.config, self.p = config, p

    def keys(self, x: np.ndarray) -> np.ndarray:
        """x (..., F) -> unit keys (..., nh, d)."""
        c = self.config
        k = linear(layer_norm(x, self.p, "ln"), self.p, "proj")
        return normalize(k.reshape(*k.shape[:-1], c.n_heads, c.dim))

    def labels(self, scores: np.ndarray) -> np.ndarray:
        return (scores >= 0.5).astype(np.float32) if self.config.binarize else scores.astype(np.float32)

    def logits(self, kp: np.ndarray, y: np.ndarray, mask: np.ndarray, kq: np.ndarray) -> np.ndarray:
        """kp (B, N, nh, d), y (B, N), mask (B, N) bool, kq (B, Q, nh, d) -> logits (B, Q)."""
        temp = np.exp(self.p["log_temp"])  # (nh,)
        s = (kq.transpose(0, 2, 1, 3) @ kp.transpose(0, 2, 3, 1)) * temp[None, :, None, None]  # (B, nh, Q, N)
        s = np.where(mask[:, None, None, :], s, -np.inf)
        top = s.max(-1, keepdims=True)  # softmax and logsumexp share one exp pass
        e = np.exp(s - top)
        total = e.sum(-1, keepdims=True)  # (B, nh, Q, 1)
        ybar = ((e / total) @ y[:, None, :, None])[..., 0]  # (B, nh, Q)
        n = np.maximum(mask.sum(-1), 1).astype(np.float32)  # (B,)
        lme = ((top + np.log(total))[..., 0] - np.log(n)[:, None, None]) / temp[None, :, None]  # (B, nh, Q)
        base = (y * mask).sum(-1) / n  # (B,)
        Q = kq.shape[1]
        feats = np.concatenate([_logit(ybar).transpose(0, 2, 1), lme.transpose(0, 2, 1),
                                np.broadcast_to(_logit(base)[:, None, None], (len(base), Q, 1))], -1)  # (B, Q, 2nh+1)
        hidden = linear(gelu(linear(feats, self.p, "mlp.0")), self.p, "mlp.2")
        return (hidden + linear(feats, self.p, "skip"))[..., 0].astype(np.float32)  # (B, Q)


class ICLHead:
    """heads/icl.py's ICLHead over numpy modules: ``parts`` (module, column slice) summed."""

    def __init__(self, parts: list[tuple[ICLModule, slice]], name: str = "icl"):
        self.parts, self.name = parts, name
        self._packs = StatePacks(self._pack)

    def fit(self, features, scores, fingerprint: str) -> ProfileState:
        x = np.asarray(features, np.float32)
        keys = [m.keys(x[:, cols]) for m, cols in self.parts]  # each (N, nh, d)
        y = self.parts[0][0].labels(np.asarray(scores, np.float32))  # (N,)
        return ProfileState(self.name, fingerprint, len(y), {"keys": keys, "y": y})

    def _pack(self, states: list[ProfileState]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """The states' labels y (M, N), row mask (M, N) and each part's keys (M, N, nh, d), padded."""
        M, N = len(states), max(s.n_rows for s in states)
        y = np.zeros((M, N), np.float32)
        mask = np.zeros((M, N), bool)
        for m, s in enumerate(states):
            y[m, : s.n_rows] = s.data["y"]
            mask[m, : s.n_rows] = True
        kps = []
        for i, (module, _) in enumerate(self.parts):
            c = module.config
            kp = np.zeros((M, N, c.n_heads, c.dim), np.float32)  # (M, N, nh, d)
            for m, s in enumerate(states):
                kp[m, : s.n_rows] = s.data["keys"][i]
            kps.append(kp)
        return y, mask, kps

    def predict(self, states: list[ProfileState], query) -> np.ndarray:
        check_states(states, self.name)
        query = np.asarray(query, np.float32)
        if not states:
            return np.zeros((0, len(query)), dtype=np.float32)
        y, mask, kps = self._packs.get(states)
        M = len(states)
        logits = np.zeros((M, len(query)), np.float32)  # (M, Q)
        for (module, cols), kp in zip(self.parts, kps):
            c = module.config
            kq = np.broadcast_to(module.keys(query[:, cols])[None], (M, len(query), c.n_heads, c.dim))
            logits += module.logits(kp, y, mask, kq)
        return sigmoid(logits).astype(np.float32)  # (M, Q)


class KNNHead:
    """heads/knn.py's kNN baseline, numpy."""

    name = "knn"

    def __init__(self, config: KNNConfig):
        self.config = config

    def fit(self, features, scores, fingerprint: str) -> ProfileState:
        x = normalize(np.asarray(features, np.float32))  # (N, F)
        return ProfileState(self.name, fingerprint, len(x), {"x": x, "y": np.asarray(scores, np.float32)})

    def predict(self, states: list[ProfileState], query) -> np.ndarray:
        check_states(states, self.name)
        c = self.config
        q = normalize(np.asarray(query, np.float32))  # (Q, F)
        out = np.empty((len(states), len(q)), dtype=np.float32)
        for m, s in enumerate(states):
            x, y = s.data["x"], s.data["y"]
            sim = q @ x.T  # (Q, N)
            k = min(c.k, len(y))
            idx = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (Q, k), descending
            top = np.take_along_axis(sim, idx, 1)
            w = np.exp((top - top[:, :1]) / c.temperature)  # (Q, k)
            out[m] = ((w * y[idx]).sum(-1) + c.prior * y.mean()) / (w.sum(-1) + c.prior)
        return out
