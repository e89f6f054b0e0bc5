"""How many everyday rows would default profiles need? (issue 14; research only, ships nothing)

    python -m bench.default_profiles_val --data ../shared/data --cache cache/layers [--mix 0 32 64 96 128]

Profiles of ROWS rows per candidate: LLMRouter dcrouter train prompts (the candidate's own grades,
as scripts/build_default_profiles.py draws them) plus ``n`` AlpacaEval 2 everyday instructions
graded by a comparable model (``EVERYDAY``). AlpacaEval's data is CC BY-NC 4.0, so the shipped
profiles hold none of it (n = 0; valuemodel/licences.py); this measures what such rows would do. It scores
every candidate, with the shipped ``difficulty`` head, on prompts no profile holds:
- dcrouter's test split (495 prompts, the candidates' real grades);
- the half of AlpacaEval's 805 instructions that profiles never draw from (proxy grades);
and prints, per ``n``, mean Intra-AUC and log-loss on each. Queries are scored by the difficulty
regressor's cross-fitted folds, so neither set is in-sample for it. Choose ``n`` here, never on
bench/sanity_routing.py.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from scripts.build_default_profiles import DROP_TASKS, MODELS, dcrouter_pool, pick_prompts

from valuemodel import V0  # noqa: E402
from valuemodel.cv import features_from_cache  # noqa: E402
from valuemodel.layer_cache import get_layers  # noqa: E402
from valuemodel.metrics import auc  # noqa: E402


# Candidate -> the AlpacaEval 2 runs whose grade it takes on everyday instructions (research only:
# AlpacaEval's data is CC BY-NC 4.0, so no shipped profile holds it): the FuseChat fine-tune of the
# same base model for the 7-9B candidates; for the 49B/51B candidates (no run of a comparable model
# exists) the mean of those three per prompt.
FUSE = {"gemma-2-9b-it": "FuseChat-Gemma-2-9B-Instruct", "qwen2.5-7b-instruct": "FuseChat-Qwen-2.5-7B-Instruct",
        "llama-3.1-8b-instruct": "FuseChat-Llama-3.1-8B-Instruct"}
EVERYDAY = {**{m: [r] for m, r in FUSE.items()},
            "llama-3.1-nemotron-51b-instruct": list(FUSE.values()),
            "llama-3.3-nemotron-super-49b-v1": list(FUSE.values())}


def everyday_split(prompts: pd.DataFrame) -> tuple[list[str], list[str]]:
    """AlpacaEval prompt ids -> (profile pool, validation): a fixed half by hash of the id."""
    half = [int(hashlib.sha256(p.encode()).hexdigest(), 16) % 2 for p in prompts.prompt_id]
    ids = prompts.prompt_id.tolist()
    return [p for p, h in zip(ids, half) if h == 0], [p for p, h in zip(ids, half) if h == 1]


def everyday_grades(outcomes: pd.DataFrame) -> dict[str, pd.Series]:
    """Candidate -> AlpacaEval grade per prompt id (the mean over its EVERYDAY runs)."""
    wide = outcomes.pivot_table(index="prompt_id", columns="model", values="score")
    return {m: wide[runs].mean(axis=1).dropna() for m, runs in EVERYDAY.items()}


def load(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_json(path / "prompts.jsonl", lines=True), pd.read_csv(path / "outcomes.csv")


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cache", default="cache/layers")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--mix", type=int, nargs="+", default=[0, 32, 64, 96, 128])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--drop-tasks", nargs="*", default=list(DROP_TASKS), help="dcrouter tasks profiles leave out")
    args = ap.parse_args()
    v0 = V0.load()
    head = v0.head
    head.difficulty = lambda x: head.regressor.cross_fitted(head.config.regressor_input(x))  # out-of-fold queries

    dp, do = load(args.data / "llmrouter_dcrouter9")
    ap_, ao = load(args.data / "alpacaeval2_wgpt4t")
    feats = {}
    for name, pr in (("llmrouter_dcrouter9", dp), ("alpacaeval2_wgpt4t", ap_)):
        c = get_layers(v0, name, dict(zip(pr.prompt_id, pr.prompt)), args.cache)
        feats[name] = features_from_cache(c)
    pool_ids, val_ids = everyday_split(ap_)
    grades_d = {m: do[do.model == m].set_index("prompt_id").score for m in MODELS}
    grades_a = everyday_grades(ao)
    val_d = dp[dp.split == "test"].prompt_id.tolist()
    print(f"validation: dcrouter test {len(val_d)} prompts (real grades), AlpacaEval held-out {len(val_ids)} (proxy grades)")
    print("n_everyday  seed  AUC_dcrouter  AUC_alpaca  logloss_dcrouter  logloss_alpaca")
    rows = []
    for n in args.mix:
        for seed in args.seeds:
            d_ids = pick_prompts(dcrouter_pool(dp, args.drop_tasks), args.rows - n, seed)
            a_ids = list(pd.Series(pool_ids).sample(n=n, random_state=seed)) if n else []
            res = {"auc_d": [], "auc_a": [], "ll_d": [], "ll_a": []}
            for m in MODELS:
                px = np.concatenate([feats["llmrouter_dcrouter9"].rows(d_ids), feats["alpacaeval2_wgpt4t"].rows(a_ids).reshape(-1, feats["llmrouter_dcrouter9"].x.shape[1])])
                py = np.concatenate([grades_d[m][d_ids].to_numpy(), grades_a[m][a_ids].to_numpy()]).astype(np.float32)
                state = head.fit(px, py, v0.fingerprint)
                for key, fx, ids, y in (("d", feats["llmrouter_dcrouter9"], val_d, grades_d[m][val_d].to_numpy()),
                                        ("a", feats["alpacaeval2_wgpt4t"], val_ids, grades_a[m][val_ids].to_numpy())):
                    p = head.predict([state], fx.rows(ids))[0]
                    res[f"auc_{key}"].append(auc(p, y))
                    res[f"ll_{key}"].append(log_loss(p, y))
            r = {k: float(np.nanmean(v)) for k, v in res.items()}
            rows.append({"n": n, "seed": seed, **r})
            print(f"{n:>10}  {seed:>4}  {r['auc_d']:.4f}        {r['auc_a']:.4f}      {r['ll_d']:.4f}            {r['ll_a']:.4f}", flush=True)
    df = pd.DataFrame(rows).groupby("n")[["auc_d", "auc_a", "ll_d", "ll_a"]].mean()
    print("\nmean over seeds\n" + df.round(4).to_string())


if __name__ == "__main__":
    main()
