"""Build the default performance profiles shipped in router/data/profiles/.

Source: LLMRouter's dcrouter data (MIT licence), in the shared data format
(prompts.jsonl + outcomes.csv). Every candidate gets the same prompts, drawn from the
train split and stratified by task, so the profiles differ only in the grades.

    python scripts/build_default_profiles.py --data PATH/TO/llmrouter_dcrouter9 [--rows 256]
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent.parent / "router" / "data" / "profiles"
# Dataset model name -> candidate name used in policies.yaml.
MODELS = {
    "gemma-2-9b-it": "gemma-2-9b-it",
    "qwen2.5-7b-instruct": "qwen2.5-7b-instruct",
    "llama-3.1-8b-instruct": "llama-3.1-8b-instruct",
    "llama-3.1-nemotron-51b-instruct": "llama-3.1-nemotron-51b-instruct",
    "llama-3.3-nemotron-super-49b-v1": "llama-3.3-nemotron-super-49b-v1",
}
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    prompts = pd.read_json(args.data / "prompts.jsonl", lines=True)
    prompts = prompts[prompts.split == "train"]
    outcomes = pd.read_csv(args.data / "outcomes.csv")
    ids = pick_prompts(prompts, args.rows, args.seed)
    text = dict(zip(prompts.prompt_id, prompts.prompt))
    OUT.mkdir(parents=True, exist_ok=True)
    for source, name in MODELS.items():
        grades = outcomes[outcomes.model == source].set_index("prompt_id").score
        path = OUT / f"{name}.jsonl"
        with path.open("w") as f:
            for pid in ids:
                row = {"prompt": text[pid][-MAX_CHARS:], "score": float(grades[pid])}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path.name}: {len(ids)} rows, mean score {grades[ids].mean():.3f}")


if __name__ == "__main__":
    main()
