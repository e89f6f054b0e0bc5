"""``V0Runtime``: ``V0``'s inference API (encode, fit_profile, predict, score, fingerprint) on
onnxruntime + numpy. Loads the same checkpoint folders; features, profile states' predictions
and the fingerprint are those of ``V0.load(...)`` on CPU (tests/test_valuemodel_numpy_parity.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backbone_files import env_threads
from ..checkpoint import WEIGHTS_FILE, load_config
from ..configs import (DEFAULT_WEIGHTS, DIFFICULTY_FILE, V0Config, feature_slice, feature_width,
                       features_fingerprint, head_features, model_config, resolve_features)
from ..difficulty import Regressor
from ..encoder_spec import check_identity, recorded_identity
from ..heads.base import ProfileState, check_scores
from ..heads.difficulty import DifficultyHead
from .backbone import NumpyBackbone, Unsupported
from .modules import Adapter, ICLHead, ICLModule, KNNHead, params

NUMPY_HEADS = ("icl", "knn", "noadapter", "difficulty")  # tabpfn needs torch: use V0


def feature_of(kind: str, adapter: np.ndarray, pooled: np.ndarray, layers: np.ndarray | None) -> np.ndarray:
    """As model.feature_of: adapter (B, K d), pooled (B, H), layers (B, L+1, H) -> (B, F)."""
    if kind == "adapter+pooled":
        return np.concatenate([adapter, pooled], -1)
    if kind == "layers+adapter":
        return np.concatenate([layers.reshape(len(layers), -1), adapter], -1)
    return {"adapter": adapter, "pooled": pooled}[kind]


class V0Runtime:
    def __init__(self, config: V0Config, tensors: dict[str, np.ndarray], backbone: NumpyBackbone | None, *,
                 head: str | None = None, features: str | None = None, regressor: Regressor | None = None):
        self.config, self.tensors, self.backbone, self.regressor = config, tensors, backbone, regressor
        self.adapter = Adapter(config.adapter, params(tensors, "adapter"))
        self.head_name = head or config.default_head
        if self.head_name not in NUMPY_HEADS:
            raise Unsupported(f"head {self.head_name!r} is not in the numpy runtime ({NUMPY_HEADS}); use valuemodel.V0")
        self.features = resolve_features(config, self.head_name, features)
        self.head = self._make_head()
        self.fingerprint = self._fingerprint()

    @classmethod
    def load(cls, path: str | Path | None = None, *, head: str | None = None, features: str | None = None,
             threads: int | None = None, backbone_path: str | None = None,
             backbone: NumpyBackbone | None = None) -> "V0Runtime":
        """As ``V0.load(path, head=, device="cpu", threads=, backbone_path=)``."""
        from safetensors.numpy import load_file

        threads = env_threads() if threads is None else threads
        threads = 1 if threads is None else threads
        root = Path(path if path is not None else DEFAULT_WEIGHTS)
        raw = load_config(root)
        config = model_config(raw, backbone_path)
        tensors = load_file(str(root / WEIGHTS_FILE))
        if backbone is None:
            backbone = NumpyBackbone(config.backbone, threads=threads)
        check_identity(recorded_identity(raw), backbone, str(root))
        regressor = Regressor.load(root / DIFFICULTY_FILE) if config.difficulty is not None else None
        return cls(config, tensors, backbone, head=head, features=features, regressor=regressor)

    def with_head(self, head: str, features: str | None = None) -> "V0Runtime":
        return V0Runtime(self.config, self.tensors, self.backbone, head=head, features=features, regressor=self.regressor)

    def head_features(self, head: str) -> str:
        return head_features(self.config, head)

    def _slice(self, part: str) -> slice:
        """Columns of ``part`` (adapter | pooled | all) within this V0's features."""
        return feature_slice(self.config, self.features, part)

    def _make_head(self):
        icl = ICLModule(self.config.icl, params(self.tensors, "icl"))
        ablation = ICLModule(self.config.ablation, params(self.tensors, "ablation"))
        if self.head_name == "knn":
            return KNNHead(self.config.knn)
        if self.head_name == "noadapter":
            return ICLHead([(ablation, slice(None))], name="noadapter")
        if self.head_name == "difficulty":
            if self.config.difficulty is None or self.regressor is None:
                raise ValueError("these weights have no difficulty regressor")
            ctx = {"icl": ICLHead([(icl, slice(None))]), "noadapter": ICLHead([(ablation, slice(None))], name="noadapter")}
            return DifficultyHead(self.config.difficulty, self.regressor, ctx.get(self.config.difficulty.context))
        if self.features != self.head_features("icl"):
            raise ValueError(f"the icl head of these weights needs features {self.head_features('icl')!r}")
        parts = [(icl, self._slice(self.config.icl_features))]
        if self.config.residual:
            parts.insert(0, (ablation, self._slice("pooled")))
        return ICLHead(parts, name="icl")

    def _fingerprint(self) -> str:
        """Byte for byte ``V0._fingerprint``: feature caches and profile states stay valid."""
        return features_fingerprint(self.config, self.backbone, self.features, params(self.tensors, "adapter"), self.regressor)

    @property
    def feature_dim(self) -> int:
        n_layers = self.config.difficulty.n_layers if self.config.difficulty is not None else 7
        return feature_width(self.features, self.config.adapter.out_dim, self.config.adapter.hidden_size, n_layers)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """texts -> features (B, F) float32; one backbone pass per text."""
        if self.backbone is None:
            raise RuntimeError("this V0Runtime has no backbone loaded")
        out = np.empty((len(texts), self.feature_dim), np.float32)
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            tokens, mask, pooled, layers = self.backbone.encode([texts[i] for i in idx])
            if self.features == "pooled":
                out[idx] = pooled
            else:
                out[idx] = feature_of(self.features, self.adapter(tokens, mask, pooled), pooled, layers)
        return out

    def fit_profile(self, features, scores) -> ProfileState:
        """Profile rows features (N, F) with scores (N,) in [0, 1] -> state (cache it)."""
        y = check_scores(scores)
        x = np.asarray(features, np.float32)
        if x.ndim != 2 or x.shape[1] != self.feature_dim:
            raise ValueError(f"features must be (N, {self.feature_dim}), got {tuple(x.shape)}")
        if len(y) != len(x) or len(y) == 0:
            raise ValueError(f"need as many scores as feature rows (>0): {len(y)} vs {len(x)}")
        return self.head.fit(x, y, self.fingerprint)

    def predict(self, states: list[ProfileState], query) -> np.ndarray:
        """query features (Q, F) -> P(success) (M, Q)."""
        for s in states:
            if s.fingerprint != self.fingerprint:
                raise ValueError("profile state was fitted with other features (fingerprint mismatch)")
        return self.head.predict(states, np.asarray(query, np.float32))

    def score(self, text: str, states: list[ProfileState]) -> np.ndarray:
        return self.predict(states, self.encode([text]))[:, 0]
