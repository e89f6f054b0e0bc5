"""Build the default performance profiles shipped in router/data/profiles/.

Source: LLMRouter's dcrouter data (MIT; valuemodel/licences.py lists what may ship), in the
shared data format (prompts.jsonl + outcomes.csv): benchmark items graded for the candidates
themselves, drawn from the train split and stratified by task. Every candidate gets the same
prompts, so the profiles differ only in the grades. Each row names its source (``source``; the
profile upload ignores the key), which tests/test_licences.py checks against the licence table.

No licence-clean data grades these five candidates on everyday prompts, so the profiles are
benchmark items only; graded traffic (feedback, judge grades, ``v0-gateway profile build``)
fills everyday coverage.

    python scripts/build_default_profiles.py --data PATH/TO/shared/data [--rows 256]
        [--calibration-mix out/calib_mix]
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent.parent / "router" / "data" / "profiles"
SOURCE = "llmrouter_dcrouter9"  # MIT: may ship (valuemodel/licences.py)
# Dataset model name -> candidate name used in policies.yaml.
MODELS = {
    "gemma-2-9b-it": "gemma-2-9b-it",
    "qwen2.5-7b-instruct": "qwen2.5-7b-instruct",
    "llama-3.1-8b-instruct": "llama-3.1-8b-instruct",
    "llama-3.1-nemotron-51b-instruct": "llama-3.1-nemotron-51b-instruct",
    "llama-3.3-nemotron-super-49b-v1": "llama-3.3-nemotron-super-49b-v1",
}
# dcrouter tasks left out: open-domain QA graded by exact match, where every candidate, 49B/51B
# included, scores 0.15-0.47 (TriviaQA 0.15-0.22): the grade measures answer format, not the
# candidate, and short factual questions would look hard for all of them (so none clears a
# threshold and the request falls back to the dearest candidate).
DROP_TASKS = ("natural_qa", "trivia_qa")
MAX_CHARS = 4000  # the scorer reads the tail of a prompt; longer texts are cut at the front


def pick_prompts(prompts: pd.DataFrame, rows: int, seed: int) -> list[str]:
    by_task: dict[str, list[str]] = defaultdict(list)
    for pid, task in zip(prompts.prompt_id, prompts.task):
        by_task[task].append(pid)
    rng = random.Random(seed)
    for ids in by_task.values():
        rng.shuffle(ids)
    picked: list[str] = []
    while len(picked) < rows:  # round-robin over tasks keeps every task represented
        for task in sorted(by_task):
            if by_task[task] and len(picked) < rows:
                picked.append(by_task[task].pop())
    return picked


def dcrouter_pool(prompts: pd.DataFrame, drop_tasks=DROP_TASKS) -> pd.DataFrame:
    """dcrouter's train-split prompts the profiles draw from."""
    return prompts[(prompts.split == "train") & ~prompts.task.isin(list(drop_tasks))]


def write_calibration_mix(out: Path, prompts: pd.DataFrame, outcomes: pd.DataFrame, models_csv: Path) -> None:
    """The graded prompts the shipped thresholds are calibrated on (`v0-gateway calibrate --profiles
    OUT`): the pool the profiles draw from (``prompts``), with the candidates' own grades."""
    out.mkdir(parents=True, exist_ok=True)
    prompts[["prompt_id", "task", "split", "prompt"]].to_json(
        out / "prompts.jsonl", orient="records", lines=True, force_ascii=False)
    own = outcomes[outcomes.model.isin(list(MODELS)) & outcomes.prompt_id.isin(set(prompts.prompt_id))]
    own[["prompt_id", "model", "score"]].to_csv(out / "outcomes.csv", index=False)
    (out / "models.csv").write_text(models_csv.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, type=Path, help="the shared data folder")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--drop-tasks", nargs="*", default=list(DROP_TASKS), help="dcrouter tasks left out")
    ap.add_argument("--calibration-mix", type=Path, help="also write the thresholds' calibration data here")
    args = ap.parse_args()

    prompts = pd.read_json(args.data / SOURCE / "prompts.jsonl", lines=True)
    prompts = dcrouter_pool(prompts, args.drop_tasks)
    outcomes = pd.read_csv(args.data / SOURCE / "outcomes.csv")
    ids = pick_prompts(prompts, args.rows, args.seed)
    text = dict(zip(prompts.prompt_id, prompts.prompt))
    if args.calibration_mix:
        write_calibration_mix(args.calibration_mix, prompts, outcomes, args.data / SOURCE / "models.csv")
    OUT.mkdir(parents=True, exist_ok=True)
    for model, name in MODELS.items():
        grades = outcomes[outcomes.model == model].set_index("prompt_id").score
        path = OUT / f"{name}.jsonl"
        with path.open("w") as f:
            for pid in ids:
                row = {"prompt": text[pid][-MAX_CHARS:], "score": float(grades[pid]), "source": SOURCE}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path.name}: {len(ids)} rows, mean score {np.mean([grades[p] for p in ids]):.3f}")


if __name__ == "__main__":
    main()
