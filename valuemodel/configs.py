"""Configuration dataclasses of the value model's parts, with no torch import (the numpy
runtime reads them; adapter.py and heads/ re-export them)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .backbone_files import BackboneConfig
from .neighbours import unit

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default"
DIFFICULTY_FILE = "difficulty.safetensors"
FEATURES = ("adapter", "pooled", "adapter+pooled", "layers+adapter")
HEAD_FEATURES = {"icl": "adapter", "tabpfn": "adapter", "knn": "pooled", "noadapter": "pooled", "difficulty": "layers+adapter"}

@dataclass
class AdapterConfig:
    hidden_size: int = 384  # backbone width H
    token_dim: int = 96  # P: token states are first projected on a fixed PCA basis (0 = off)
    n_queries: int = 4  # K
    dim: int = 64  # d, width of each query / output vector
    n_heads: int = 4
    bottleneck: int = 64
    pooled_skip: bool = True  # add a learned per-query linear map of the pooled embedding
    dropout: float = 0.0  # on the output features, training only

    @property
    def out_dim(self) -> int:
        return self.n_queries * self.dim


@dataclass
class ICLConfig:
    in_dim: int = 256  # feature width F
    n_heads: int = 4
    dim: int = 32  # per-head projection width
    hidden: int = 64  # MLP width
    binarize: bool = True  # profile labels -> score >= 0.5 (as in the paper)
    zero_init: bool = False  # output starts at 0 (a residual head added to another head's logit)


@dataclass
class KNNConfig:
    k: int = 32  # neighbours
    temperature: float = 0.05  # weights exp(cos / temperature)
    prior: float = 1.0  # pseudo-count pulling towards the profile's mean score


@dataclass
class TabPFNConfig:
    checkpoint: str | None = None  # path of a TabPFN classifier checkpoint; env var wins
    n_estimators: int = 1  # ensemble members (the paper's speed setting)


@dataclass
class DifficultyConfig:
    n_layers: int = 7  # L + 1 pooled layers at the front of the features
    hidden_size: int = 384  # H
    adapter_dim: int = 256  # K d adapter columns at the end of the features
    layers: str = "all"  # regressor input: all (every layer) | last (the last layer's mean)
    knn: str = "none"  # kNN residual term over: pooled (last layer) | adapter | none
    k: int = 32
    temperature: float = 0.05
    knn_prior: float = 4.0  # pseudo-rows of zero residual
    knn_weight: float = 0.5
    context: str = "icl"  # in-context head blended in: icl (adapter columns) | noadapter (last layer) | none
    context_weight: float = 0.3
    neighbours: bool = False  # also the regressor's neighbour outputs (valuemodel/neighbours.py)
    blend: str = "fixed"  # fixed: context_weight | stacked: fitted per profile on out-of-half predictions
    blend_precision: float = 20.0  # stacked: prior precision around the fixed blend (Hessian units)
    cross_fit: bool = False  # profile rows scored out of their hash fold (see difficulty.Regressor)
    slope: float = 0.0  # calibration prior (see difficulty.CalibrationPrior)
    slope_precision: float = 10.0
    bias_precision: float = 1e-2

    @property
    def layer_cols(self) -> int:
        return self.n_layers * self.hidden_size

    def regressor_input(self, x: np.ndarray) -> np.ndarray:
        if self.layers == "all":
            return x[:, : self.layer_cols]
        return x[:, self.layer_cols - self.hidden_size : self.layer_cols]

    def context_cols(self) -> slice:
        if self.context == "icl":
            return slice(self.layer_cols, None)
        return slice(self.layer_cols - self.hidden_size, self.layer_cols)

    def knn_keys(self, x: np.ndarray) -> np.ndarray | None:
        if self.knn == "none":
            return None
        cols = x[:, self.layer_cols :] if self.knn == "adapter" else x[:, self.layer_cols - self.hidden_size : self.layer_cols]
        return unit(cols)


def feature_width(kind: str, adapter_dim: int, hidden_size: int, n_layers: int = 7) -> int:
    widths = {"adapter": adapter_dim, "pooled": hidden_size, "adapter+pooled": adapter_dim + hidden_size}
    return widths.get(kind, n_layers * hidden_size + adapter_dim)


@dataclass
class V0Config:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    icl: ICLConfig = field(default_factory=ICLConfig)  # head over adapter features
    ablation: ICLConfig = field(default_factory=lambda: ICLConfig(in_dim=384))  # over pooled
    knn: KNNConfig = field(default_factory=KNNConfig)
    tabpfn: TabPFNConfig = field(default_factory=TabPFNConfig)
    default_head: str = "icl"
    icl_features: str = "adapter"  # what the icl head reads: adapter | adapter+pooled | pooled
    residual: bool = False  # icl logit = ablation head's logit + the icl head's (zero-started)
    difficulty: DifficultyConfig | None = None  # shared-difficulty head (its regressor: difficulty.safetensors)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "V0Config":
        return cls(
            backbone=BackboneConfig(**d.get("backbone", {})),
            adapter=AdapterConfig(**d.get("adapter", {})),
            icl=ICLConfig(**d.get("icl", {})),
            ablation=ICLConfig(**d.get("ablation", {})),
            knn=KNNConfig(**d.get("knn", {})),
            tabpfn=TabPFNConfig(**d.get("tabpfn", {})),
            default_head=d.get("default_head", "icl"),
            icl_features=d.get("icl_features", "adapter"),
            residual=bool(d.get("residual", False)),
            difficulty=DifficultyConfig(**d["difficulty"]) if d.get("difficulty") else None,
        )

    @classmethod
    def for_backbone(cls, hidden_size: int, **kw) -> "V0Config":
        """Config whose adapter/head widths match a backbone of width ``hidden_size``."""
        cfg = cls(**kw)
        cfg.adapter.hidden_size = hidden_size
        cfg.icl.in_dim = cfg.adapter.out_dim
        cfg.ablation.in_dim = hidden_size
        return cfg


def head_features(config: V0Config, head: str) -> str:
    """The feature kind a head reads with these weights (``icl`` may read adapter + pooled)."""
    if head != "icl":
        return HEAD_FEATURES[head]
    own = config.icl_features
    return "adapter+pooled" if config.residual and own == "adapter" else own


def resolve_features(config: V0Config, head: str, features: str | None) -> str:
    """The feature kind a V0 with ``head`` computes: ``features`` if given (checked), else the head's."""
    features = features or head_features(config, head)
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; one of {FEATURES}")
    return features


def feature_slice(config: V0Config, features: str, part: str) -> slice:
    """Columns of ``part`` (adapter | pooled | all) within features of kind ``features``."""
    if features != "adapter+pooled" or part == features:
        return slice(None)
    k = config.adapter.out_dim
    return slice(0, k) if part == "adapter" else slice(k, None)


def features_fingerprint(config: V0Config, backbone, features: str, adapter: dict[str, np.ndarray],
                         regressor=None) -> str:
    """The key of feature caches and profile states: backbone identity, window, runtime, feature
    kind, and the arrays the features (and difficulty calibrations) depend on. ``adapter``: the
    adapter's parameters by name as float32 arrays; the same bytes from the torch and numpy V0."""
    h = hashlib.sha256()
    b = config.backbone
    key = backbone.key if backbone is not None else b.name_or_path
    runtime = backbone.runtime if backbone is not None else b.runtime
    h.update(f"{key}|{b.max_tokens}|{runtime}|{features}".encode())
    if features != "pooled":
        for name, a in sorted(adapter.items()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(a, np.float32).tobytes())
    if features == "layers+adapter" and regressor is not None:  # states hold its calibration
        for name, a in sorted(regressor.arrays().items()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def model_config(raw: dict, backbone_path: str | None = None) -> V0Config:
    """A checkpoint's model config; the backbone is loaded from ``backbone_path`` (else
    ``V0_BACKBONE``) when given, instead of the recorded place (its identity is still checked)."""
    config = V0Config.from_dict(raw["model"])
    override = backbone_path or os.environ.get("V0_BACKBONE")
    if override:
        config.backbone.name_or_path = override
    return config
