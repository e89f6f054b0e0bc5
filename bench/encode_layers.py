"""Fill the every-layer feature cache (valuemodel/layer_cache.py) for some datasets.

    python -m bench.encode_layers --data ../shared/data --cache cache/layers \
        --datasets llmrouter_dcrouter9 routellm_2model alpacaeval2_wgpt4t dapomath routerbench_train
"""

from __future__ import annotations

import argparse
import time

from valuemodel import V0
from valuemodel.backbone import Backbone, BackboneConfig
from valuemodel.data import load_dataset
from valuemodel.layer_cache import get_layers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", default="cache/layers")
    ap.add_argument("--datasets", nargs="+", required=True)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    base = V0.load(args.weights)
    cfg = BackboneConfig(**{**base.config.backbone.__dict__, "max_tokens": args.max_tokens})
    v0 = V0.load(args.weights, backbone=Backbone(cfg, threads=1))
    for name in args.datasets:
        t = time.time()
        ds = load_dataset(f"{args.data}/{name}")
        out = get_layers(v0, name, ds.prompts, args.cache)
        print(f"{name}: {len(out['prompt_ids'])} prompts, {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
