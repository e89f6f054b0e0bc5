"""numpy versions of the few torch ops the adapter and the heads use (float32 in, float32 out)."""

from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)


def linear(x: np.ndarray, p: dict, name: str) -> np.ndarray:
    """x (..., I) @ weight (O, I).T + bias (O,) -> (..., O); torch.nn.Linear's parameters."""
    out = x @ p[f"{name}.weight"].T
    bias = p.get(f"{name}.bias")
    return out + bias if bias is not None else out


def layer_norm(x: np.ndarray, p: dict, name: str, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the last axis (biased variance, as torch)."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * p[f"{name}.weight"] + p[f"{name}.bias"]


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, torch's default."""
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)).astype(np.float64))).astype(x.dtype)


def normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """L2 normalisation over the last axis (torch.nn.functional.normalize)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
