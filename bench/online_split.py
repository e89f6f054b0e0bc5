"""Split a dataset folder by prompt into a stream folder and an eval folder for `bench online`.

    python bench/online_split.py DATA_DIR OUT_DIR [--eval-share 0.3] [--seed 0] [--max-prompts N]

writes OUT_DIR/stream and OUT_DIR/eval (prompts.jsonl, outcomes.csv, models.csv when present).
Seeded; a prompt is in exactly one of the two.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--eval-share", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-prompts", type=int, default=None, help="sample this many prompts first (seeded)")
    a = ap.parse_args()
    src, out = Path(a.data), Path(a.out)
    prompts = [json.loads(line) for line in (src / "prompts.jsonl").open(encoding="utf-8") if line.strip()]
    rng = random.Random(a.seed)
    rng.shuffle(prompts)
    if a.max_prompts:
        prompts = prompts[:a.max_prompts]
    cut = int(round(len(prompts) * a.eval_share))
    parts = {"eval": prompts[:cut], "stream": prompts[cut:]}
    with (src / "outcomes.csv").open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    for name, items in parts.items():
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        ids = {p["prompt_id"] for p in items}
        with (d / "prompts.jsonl").open("w", encoding="utf-8") as fh:
            for p in items:
                fh.write(json.dumps(p) + "\n")
        with (d / "outcomes.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(r for r in rows if r["prompt_id"] in ids)
        if (src / "models.csv").exists():
            shutil.copy(src / "models.csv", d / "models.csv")
        print(f"{d}: {len(items)} prompts")


if __name__ == "__main__":
    main()
