"""V0: backbone + residual query adapter + in-context head, behind one small API.

    v0 = V0.load()                          # shipped weights, default head
    states = [v0.fit_profile(v0.encode(texts_m), scores_m) for each candidate m]   # cache these
    p = v0.score("routing text", states)    # (M,) P(success), one backbone pass

Heads: ``icl`` (built-in, trained with the adapter; the default), ``knn`` (baseline),
``tabpfn`` (the paper's head; needs a checkpoint) and ``noadapter`` (the adapter-free ablation:
the same kind of in-context head, trained on the backbone's pooled embedding).

The ``icl`` head reads ``icl_features``: the adapter's output (``adapter``), or that followed by
the pooled embedding (``adapter+pooled``); ``pooled`` is a control with no adapter. With
``residual``, its logit is added to the ablation head's (``noadapter``, over the pooled
embedding) and starts at zero, so it learns only what the ablation gets wrong; the features are
then ``adapter+pooled`` (or ``pooled`` for the control).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .adapter import QueryAdapter
from .backbone import Backbone, Encoded, env_threads
from .checkpoint import load_checkpoint, save_checkpoint
from .difficulty import Regressor
from .encoder_spec import check_identity, identity, recorded_identity
from .configs import (  # noqa: F401  (re-exported: callers import these from here)
    DEFAULT_WEIGHTS, DIFFICULTY_FILE, FEATURES, HEAD_FEATURES, V0Config, feature_slice, feature_width, features_fingerprint,
    head_features, model_config, resolve_features,
)
from .heads import HEAD_NAMES, ICLHead, ICLModule, KNNHead, TabPFNHead
from .heads.base import ProfileState, as_scores
from .heads.difficulty import DifficultyHead

def feature_of(kind: str, adapter: torch.Tensor, pooled: torch.Tensor, layers: torch.Tensor | None = None) -> torch.Tensor:
    """Adapter features (B, K d), pooled embeddings (B, H) and every layer's mean (B, L+1, H)
    -> features of ``kind`` (B, F)."""
    if kind == "adapter+pooled":
        return torch.cat([adapter, pooled], -1)
    if kind == "layers+adapter":
        return torch.cat([layers.flatten(1), adapter], -1)  # (B, (L+1) H + K d)
    return {"adapter": adapter, "pooled": pooled}[kind]


class V0Modules(torch.nn.Module):
    """The trained parameters: adapter, its head and the adapter-free ablation head."""

    def __init__(self, config: V0Config):
        super().__init__()
        self.adapter = QueryAdapter(config.adapter)
        self.icl = ICLModule(config.icl)
        self.ablation = ICLModule(config.ablation)


class V0:
    def __init__(
        self,
        config: V0Config,
        modules: V0Modules,
        backbone: Backbone | None,
        *,
        head: str | None = None,
        features: str | None = None,
        device: str = "cpu",
        regressor: Regressor | None = None,
    ):
        self.config = config
        self.regressor = regressor
        self.modules = modules.to(device).eval()
        self.backbone = backbone
        self.device = torch.device(device)
        self.head_name = head or config.default_head
        if self.head_name not in HEAD_NAMES:
            raise ValueError(f"unknown head {self.head_name!r}; one of {HEAD_NAMES}")
        self.features = resolve_features(config, self.head_name, features)
        self.head = self._make_head()
        self.fingerprint = self._fingerprint()

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        head: str | None = None,
        device: str = "cpu",
        features: str | None = None,
        backbone: Backbone | None = None,
        threads: int | None = None,
        backbone_path: str | None = None,
    ) -> "V0":
        """Load a checkpoint folder (None: the shipped weights). ``backbone`` shares a loaded
        one. ``threads`` (else ``V0_THREADS``, else 1 on CPU) sets the CPU threads of the
        backbone runtime and, process-wide, of torch: scoring one prompt is many small ops, and on
        a small shared CPU one thread gives the lowest and steadiest latency. 0 keeps the
        libraries' defaults. ``backbone_path`` (else ``V0_BACKBONE``) loads the backbone from another
        place than the recorded one; weights trained for another backbone are refused."""
        if threads is None:
            threads = env_threads()
        if threads is None:
            threads = 1 if torch.device(device).type == "cpu" else 0
        if threads:
            torch.set_num_threads(threads)
        root = Path(path if path is not None else DEFAULT_WEIGHTS)
        raw, tensors = load_checkpoint(root)
        config = model_config(raw, backbone_path)
        modules = V0Modules(config)
        modules.load_state_dict(tensors, strict=True)
        if backbone is None:
            backbone = Backbone(config.backbone, device=device, threads=threads)
        check_identity(recorded_identity(raw), backbone, str(root))
        regressor = Regressor.load(root / DIFFICULTY_FILE) if config.difficulty is not None else None
        return cls(config, modules, backbone, head=head, features=features, device=device, regressor=regressor)

    def with_head(self, head: str, features: str | None = None) -> "V0":
        """Same weights and backbone, another head."""
        return V0(self.config, self.modules, self.backbone, head=head, features=features, device=str(self.device), regressor=self.regressor)

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        state = {k: v for k, v in self.modules.state_dict().items()}
        own = {"backbone": identity(self.backbone)} if self.backbone is not None else {}
        root = save_checkpoint(path, {"model": self.config.to_dict(), **(extra or {}), **own}, state)
        if self.regressor is not None:
            from safetensors.numpy import save_file

            save_file({k: np.ascontiguousarray(v) for k, v in self.regressor.arrays().items()}, str(root / DIFFICULTY_FILE))
        return root

    def head_features(self, head: str) -> str:
        return head_features(self.config, head)

    def _slice(self, part: str) -> slice:
        """Columns of ``part`` (adapter | pooled | all) within this V0's features."""
        return feature_slice(self.config, self.features, part)

    def _make_head(self):
        if self.head_name == "knn":
            return KNNHead(self.config.knn)
        if self.head_name == "tabpfn":
            return TabPFNHead(self.config.tabpfn, device=str(self.device))
        if self.head_name == "noadapter":
            return ICLHead(self.modules.ablation, name="noadapter")
        if self.head_name == "difficulty":
            if self.config.difficulty is None or self.regressor is None:
                raise ValueError("these weights have no difficulty regressor")
            ctx = {"icl": ICLHead(self.modules.icl, name="icl"), "noadapter": ICLHead(self.modules.ablation, name="noadapter")}
            return DifficultyHead(self.config.difficulty, self.regressor, ctx.get(self.config.difficulty.context))
        if self.features != self.head_features("icl"):
            raise ValueError(f"the icl head of these weights needs features {self.head_features('icl')!r}")
        parts = [(self.modules.icl, self._slice(self.config.icl_features))]
        if self.config.residual:
            parts.insert(0, (self.modules.ablation, self._slice("pooled")))
        return ICLHead(name="icl", parts=parts)

    def _fingerprint(self) -> str:
        adapter = {k: t.detach().cpu().numpy() for k, t in self.modules.adapter.state_dict().items()}
        return features_fingerprint(self.config, self.backbone, self.features, adapter, self.regressor)

    @property
    def feature_dim(self) -> int:
        n_layers = self.config.difficulty.n_layers if self.config.difficulty is not None else 7
        return feature_width(self.features, self.config.adapter.out_dim, self.config.adapter.hidden_size, n_layers)

    # ---- features -----------------------------------------------------------------------
    @torch.no_grad()
    def features_from(self, enc: Encoded) -> torch.Tensor:
        """Backbone output -> features (B, F)."""
        if self.features == "pooled":
            return enc.pooled
        tokens, mask, pooled = (t.to(self.device) for t in (enc.tokens, enc.mask, enc.pooled))
        layers = enc.layers.to(self.device) if enc.layers is not None else None
        return feature_of(self.features, self.modules.adapter(tokens, mask, pooled), pooled, layers)  # (B, F)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 32) -> torch.Tensor:
        """texts -> features (B, F) float32 on CPU; one backbone pass per text."""
        if self.backbone is None:
            raise RuntimeError("this V0 has no backbone loaded")
        if not texts:
            return torch.zeros(0, self.feature_dim)
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))  # similar lengths together
        out = torch.empty(len(texts), self.feature_dim)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.backbone.encode([texts[i] for i in idx])
            out[idx] = self.features_from(enc).float().cpu()
        return out

    # ---- profiles and prediction --------------------------------------------------------
    def fit_profile(self, features: torch.Tensor, scores) -> ProfileState:
        """Profile rows features (N, F) (tensor or array) with scores (N,) in [0, 1] -> state (cache it)."""
        y, features = as_scores(scores), torch.as_tensor(features)
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(f"features must be (N, {self.feature_dim}), got {tuple(features.shape)}")
        if len(y) != len(features) or len(y) == 0:
            raise ValueError(f"need as many scores as feature rows (>0): {len(y)} vs {len(features)}")
        return self.head.fit(features.to(self.device), y.to(self.device), self.fingerprint)

    def predict(self, states: list[ProfileState], query: torch.Tensor) -> np.ndarray:
        """query features (Q, F) -> P(success) (M, Q), one row per profile state."""
        for s in states:
            if s.fingerprint != self.fingerprint:
                raise ValueError("profile state was fitted with other features (fingerprint mismatch)")
        return self.head.predict(states, torch.as_tensor(query).to(self.device))

    def score(self, text: str, states: list[ProfileState]) -> np.ndarray:
        """Hot path: one backbone pass for ``text``, then every candidate's profile: (M,)."""
        return self.predict(states, self.encode([text]))[:, 0]
