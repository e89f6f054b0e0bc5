"""`v0-gateway prepare`: build the backbone's ONNX files (this step imports torch) so that
`serve` runs on onnxruntime + numpy alone. Idempotent: files already built are kept.

    v0-gateway prepare                       # the shipped weights' backbone (V0_WEIGHTS, V0_BACKBONE)
    python -m valuemodel.infer.prepare --backbone PATH --runtime onnx-int8   (what serve runs when
                                                                                the file is missing)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", help="value-model checkpoint folder (default: V0_WEIGHTS or the shipped weights)")
    parser.add_argument("--backbone", help="backbone id or folder (default: V0_BACKBONE or the checkpoint's)")
    parser.add_argument("--sha256", help="expected sha256 of the backbone's model.safetensors")
    parser.add_argument("--runtime", default="onnx-int8", choices=("onnx", "onnx-int8"))


def backbone_config(weights: str | None, backbone: str | None, sha256: str | None, runtime: str):
    from ..backbone_files import BackboneConfig
    from ..checkpoint import load_config
    from ..configs import DEFAULT_WEIGHTS

    if backbone is None:
        raw = load_config(Path(weights or os.environ.get("V0_WEIGHTS") or DEFAULT_WEIGHTS))
        config = BackboneConfig(**raw["model"].get("backbone", {}))
        config.name_or_path = os.environ.get("V0_BACKBONE") or config.name_or_path
    else:
        config = BackboneConfig(name_or_path=backbone, sha256=sha256)
    config.runtime = runtime
    return config


def run(args: argparse.Namespace) -> int:
    from ..backbone import Backbone  # torch: this command is the one place serving needs it

    config = backbone_config(args.weights, args.backbone, args.sha256, args.runtime)
    from .backbone import NumpyBackbone

    b = Backbone(config, device="cpu", threads=0)
    NumpyBackbone(config, threads=1)  # the serving copy of the graph, token table memory-mapped (embeddings.py)
    print(f"backbone {config.name_or_path}: runtime {b.runtime}, ONNX files ready")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m valuemodel.infer.prepare", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
