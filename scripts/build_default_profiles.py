"""Build the default performance profiles shipped in router/data/profiles/.

Sources, in the shared data format (prompts.jsonl + outcomes.csv):
- LLMRouter's dcrouter data (MIT): benchmark items graded for the candidates themselves, drawn
  from the train split and stratified by task;
- AlpacaEval 2 (Apache-2.0): everyday instructions, each graded P(beats GPT-4-turbo) for a
  comparable model (EVERYDAY), drawn from a fixed half of its prompts (the other half is
  bench/default_profiles_val.py's validation set), interleaved so every tail window mixes both.
Every candidate gets the same prompts, so the profiles differ only in the grades.

    python scripts/build_default_profiles.py --data PATH/TO/shared/data [--rows 256 --everyday 64]
        [--calibration-mix out/calib_mix]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
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
# Candidate -> the AlpacaEval 2 runs whose grade it takes on everyday instructions: the FuseChat
# fine-tune of the same base model for the 7-9B candidates; for the 49B/51B candidates (no run of a
# comparable model exists) the mean of those three per prompt (the best of three, used before,
# biased every everyday prompt toward the expensive candidates by the noise in three grades).
FUSE = {"gemma-2-9b-it": "FuseChat-Gemma-2-9B-Instruct", "qwen2.5-7b-instruct": "FuseChat-Qwen-2.5-7B-Instruct",
        "llama-3.1-8b-instruct": "FuseChat-Llama-3.1-8B-Instruct"}
EVERYDAY = {**{m: [r] for m, r in FUSE.items()},
            "llama-3.1-nemotron-51b-instruct": list(FUSE.values()),
            "llama-3.3-nemotron-super-49b-v1": list(FUSE.values())}
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


def everyday_split(prompts: pd.DataFrame) -> tuple[list[str], list[str]]:
    """AlpacaEval prompt ids -> (profile pool, validation): a fixed half by hash of the id."""
    half = [int(hashlib.sha256(p.encode()).hexdigest(), 16) % 2 for p in prompts.prompt_id]
    ids = prompts.prompt_id.tolist()
    return [p for p, h in zip(ids, half) if h == 0], [p for p, h in zip(ids, half) if h == 1]


def everyday_grades(outcomes: pd.DataFrame) -> dict[str, pd.Series]:
    """Candidate -> AlpacaEval grade per prompt id (the mean over its EVERYDAY runs)."""
    wide = outcomes.pivot_table(index="prompt_id", columns="model", values="score")
    return {m: wide[runs].mean(axis=1).dropna() for m, runs in EVERYDAY.items()}


def dcrouter_pool(prompts: pd.DataFrame, drop_tasks=DROP_TASKS) -> pd.DataFrame:
    """dcrouter's train-split prompts the profiles draw from."""
    return prompts[(prompts.split == "train") & ~prompts.task.isin(list(drop_tasks))]


def write_calibration_mix(out: Path, prompts: pd.DataFrame, outcomes: pd.DataFrame, a_prompts: pd.DataFrame,
                          a_grades: dict[str, pd.Series], models_csv: Path) -> None:
    """The graded prompts the shipped thresholds are calibrated on (`v0-gateway calibrate --profiles
    OUT`): the same mix the profiles hold, dcrouter's prompts (``prompts``, the candidates' own
    grades) plus every AlpacaEval instruction with the profiles' everyday grades."""
    out.mkdir(parents=True, exist_ok=True)
    a = a_prompts.assign(task="everyday", split="train")[["prompt_id", "task", "split", "prompt"]]
    pd.concat([prompts[["prompt_id", "task", "split", "prompt"]], a]).to_json(
        out / "prompts.jsonl", orient="records", lines=True, force_ascii=False)
    own = outcomes[outcomes.model.isin(list(MODELS)) & outcomes.prompt_id.isin(set(prompts.prompt_id))]
    every = [pd.DataFrame({"prompt_id": g.index, "model": m, "score": g.to_numpy()}) for m, g in a_grades.items()]
    pd.concat([own[["prompt_id", "model", "score"]], *every]).to_csv(out / "outcomes.csv", index=False)
    (out / "models.csv").write_text(models_csv.read_text())


def interleave(a: list, b: list) -> list:
    """b's items spread evenly through a (so any tail window holds both in proportion)."""
    n = len(a) + len(b)
    slots = {int((j + 0.5) * n / len(b)) for j in range(len(b))} if b else set()
    ia, ib = iter(a), iter(b)
    return [next(ib) if i in slots else next(ia) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, type=Path, help="the shared data folder")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--everyday", type=int, default=64, help="AlpacaEval rows among --rows (bench/default_profiles_val.py)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--drop-tasks", nargs="*", default=list(DROP_TASKS), help="dcrouter tasks left out")
    ap.add_argument("--calibration-mix", type=Path, help="also write the thresholds' calibration data here")
    args = ap.parse_args()

    prompts = pd.read_json(args.data / "llmrouter_dcrouter9" / "prompts.jsonl", lines=True)
    prompts = dcrouter_pool(prompts, args.drop_tasks)
    outcomes = pd.read_csv(args.data / "llmrouter_dcrouter9" / "outcomes.csv")
    ids = pick_prompts(prompts, args.rows - args.everyday, args.seed)
    text = dict(zip(prompts.prompt_id, prompts.prompt))
    a_prompts = pd.read_json(args.data / "alpacaeval2_wgpt4t" / "prompts.jsonl", lines=True)
    pool, _ = everyday_split(a_prompts)
    a_ids = list(pd.Series(pool).sample(n=args.everyday, random_state=args.seed)) if args.everyday else []
    a_text = dict(zip(a_prompts.prompt_id, a_prompts.prompt))
    a_grades = everyday_grades(pd.read_csv(args.data / "alpacaeval2_wgpt4t" / "outcomes.csv"))
    if args.calibration_mix:
        write_calibration_mix(args.calibration_mix, prompts, outcomes, a_prompts, a_grades,
                              args.data / "llmrouter_dcrouter9" / "models.csv")
    order = interleave([("d", p) for p in ids], [("a", p) for p in a_ids])
    OUT.mkdir(parents=True, exist_ok=True)
    for source, name in MODELS.items():
        grades = outcomes[outcomes.model == source].set_index("prompt_id").score
        path = OUT / f"{name}.jsonl"
        scores = []
        with path.open("w") as f:
            for kind, pid in order:
                prompt, score = (text[pid], grades[pid]) if kind == "d" else (a_text[pid], a_grades[name][pid])
                scores.append(float(score))
                f.write(json.dumps({"prompt": prompt[-MAX_CHARS:], "score": float(score)}, ensure_ascii=False) + "\n")
        print(f"{path.name}: {len(order)} rows ({len(a_ids)} everyday), mean score {np.mean(scores):.3f}")


if __name__ == "__main__":
    main()
