"""Is a longer backbone window worth it? Held-out Spearman correlation between the difficulty
regressor's output and a prompt's mean score, per source, for 128- and 256-token tail windows.

    python -m bench.encode_layers --data ../shared/data --max-tokens 256 --datasets dapomath alpacaeval2_wgpt4t
    python -m bench.window_length --data ../shared/data --datasets dapomath alpacaeval2_wgpt4t

Each source: a prompt-disjoint 80/20 split (seeds 0-2); ridge (lambda 10) on every-layer means of
the 80 %, scored on the 20 %. Also reports the share of prompts longer than 128 tokens.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from valuemodel import V0
from valuemodel.backbone import Backbone, BackboneConfig
from valuemodel.cv import features_from_cache, ridge_part
from valuemodel.data import load_dataset, split_by_prompt
from valuemodel.difficulty import FoldedStats, hash_projection, prompt_targets, standardiser
from valuemodel.layer_cache import get_layers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", default="cache/layers")
    ap.add_argument("--datasets", nargs="+", default=["dapomath", "alpacaeval2_wgpt4t"])
    ap.add_argument("--ridge", type=float, default=10.0)
    args = ap.parse_args()
    base = V0.load(head="icl")
    for name in args.datasets:
        ds = load_dataset(f"{args.data}/{name}")
        if "part" in ds.outcomes.columns:
            ds = ds.select_rows((ds.outcomes["part"] == "context").to_numpy())
        long = 0.0
        row = []
        for window in (128, 256):
            cfg = BackboneConfig(**{**base.config.backbone.__dict__, "max_tokens": window})
            v0 = V0.load(head="icl", backbone=Backbone(cfg, threads=1))
            feats = features_from_cache(get_layers(v0, name, ds.prompts, args.cache))
            cols = slice(0, 7 * v0.backbone.hidden_size)
            mean, scale = standardiser(feats.x[:, cols])
            rhos = []
            for seed in (0, 1, 2):
                tr, te = split_by_prompt(ds, 0.8, seed)
                st = ridge_part(FoldedStats(mean, scale, hash_projection(cols.stop)), feats, tr.outcomes, 1.0, cols)
                reg = sum(st.folds[1:], st.folds[0]).solve(args.ridge)
                pids, y, _ = prompt_targets(te.outcomes)
                rhos.append(spearmanr(reg(feats.rows(pids)[:, cols])[:, 0], y)[0])
            row.append(f"w{window}: {np.mean(rhos):.3f} ± {np.std(rhos, ddof=1):.3f}")
            if window == 128:
                n_tok = [len(ids) for ids in v0.backbone.tokenizer(list(ds.prompts.values()), verbose=False)["input_ids"]]
                long = float(np.mean(np.array(n_tok) > 128))
        print(f"{name}: {'  '.join(row)}  (prompts over 128 tokens: {long:.0%})", flush=True)


if __name__ == "__main__":
    main()
