"""Datasets in the shared routing-data format.

A dataset folder holds ``prompts.jsonl`` (``prompt_id``, ``task``, ``prompt``[, ``split``]) and
``outcomes.csv`` (``prompt_id,model,score[,cost_usd]``), optionally ``models.csv`` with list prices
in USD per 1M input/output tokens. The DAPO-Math release instead ships ``context.csv``,
``train.csv`` and ``validity.csv`` (``prompt_id,policy,step,score`` with score in [-1, 1]); there a
model is ``"policy@step"``, the score is mapped to [0, 1] with ``(s + 1) / 2`` and every row keeps
its origin in a ``part`` column (``context`` / ``train`` / ``validity``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DAPO_PARTS = ("context", "train", "validity")


@dataclass
class Dataset:
    name: str
    prompts: dict[str, str]  # prompt_id -> full prompt text
    tasks: dict[str, str]  # prompt_id -> task name
    outcomes: pd.DataFrame  # columns prompt_id, model, score in [0, 1][, cost_usd][, part]
    prices: dict[str, tuple[float, float]] | None = field(default=None)  # USD per 1M in/out

    @property
    def models(self) -> list[str]:
        return sorted(self.outcomes["model"].unique().tolist())

    def select_prompts(self, prompt_ids) -> "Dataset":
        """Restrict to the given prompt ids (prompts, tasks and outcome rows)."""
        keep = set(prompt_ids) & set(self.prompts)
        return self._subset(self.outcomes[self.outcomes["prompt_id"].isin(keep)], keep)

    def select_rows(self, mask) -> "Dataset":
        """Keep outcome rows where ``mask`` is true, and the prompts they use."""
        outcomes = self.outcomes[np.asarray(mask, dtype=bool)]
        return self._subset(outcomes, set(outcomes["prompt_id"]))

    def _subset(self, outcomes: pd.DataFrame, keep: set[str]) -> "Dataset":
        return Dataset(
            name=self.name,
            prompts={p: t for p, t in self.prompts.items() if p in keep},
            tasks={p: t for p, t in self.tasks.items() if p in keep},
            outcomes=outcomes.reset_index(drop=True),
            prices=self.prices,
        )


def _read_prompts(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    prompts: dict[str, str] = {}
    tasks: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            pid = str(row["prompt_id"])
            prompts[pid] = row["prompt"]
            tasks[pid] = row.get("task") or ""
    return prompts, tasks


def _read_dapo(root: Path) -> pd.DataFrame:
    frames = []
    for part in DAPO_PARTS:
        path = root / f"{part}.csv"
        if not path.exists():
            continue
        df = pd.read_csv(path, dtype={"prompt_id": str, "policy": str})
        frames.append(
            pd.DataFrame(
                {
                    "prompt_id": df["prompt_id"],
                    "model": df["policy"] + "@" + df["step"].astype(str),
                    "score": ((df["score"].astype(float) + 1.0) / 2.0).clip(0.0, 1.0),
                    "part": part,
                }
            )
        )
    if not frames:
        raise FileNotFoundError(f"no outcomes.csv or context.csv in {root}")
    return pd.concat(frames, ignore_index=True)


def _read_prices(path: Path) -> dict[str, tuple[float, float]] | None:
    if not path.exists():
        return None
    df = pd.read_csv(path, dtype={"model": str})
    return {
        str(r.model): (float(r.usd_per_1M_in), float(r.usd_per_1M_out))
        for r in df.itertuples(index=False)
    }


def load_dataset(path: str | Path) -> Dataset:
    """Load one dataset folder of the shared data format (see module doc)."""
    root = Path(path)
    prompts_file = root / "prompts.jsonl"
    if not prompts_file.exists():
        raise FileNotFoundError(f"dataset file not found: {prompts_file}")
    prompts, tasks = _read_prompts(prompts_file)
    outcomes_file = root / "outcomes.csv"
    if outcomes_file.exists():
        outcomes = pd.read_csv(outcomes_file, dtype={"prompt_id": str, "model": str})
        outcomes["score"] = outcomes["score"].astype(float).clip(0.0, 1.0)
    else:
        outcomes = _read_dapo(root)
    outcomes = outcomes[outcomes["prompt_id"].isin(prompts.keys())].reset_index(drop=True)
    return Dataset(
        name=root.name,
        prompts=prompts,
        tasks=tasks,
        outcomes=outcomes,
        prices=_read_prices(root / "models.csv"),
    )


def split_by_prompt(ds: Dataset, frac: float, seed: int) -> tuple[Dataset, Dataset]:
    """Prompt-disjoint split: the first part gets ``frac`` of the prompts that have outcomes."""
    if not 0.0 < frac < 1.0:
        raise ValueError(f"frac must be in (0, 1), got {frac}")
    ids = np.array(sorted(set(ds.outcomes["prompt_id"])))
    rng = np.random.default_rng(seed)
    rng.shuffle(ids)
    n_first = int(round(frac * len(ids)))
    return ds.select_prompts(ids[:n_first]), ds.select_prompts(ids[n_first:])


def split_profiles_eval(ds: Dataset, frac: float, seed: int) -> tuple[Dataset, Dataset, str]:
    """Profiles and eval from one folder, the one rule every benchmark uses: DAPO-Math's release
    (a ``part`` column) gives its ``context`` rows as profiles and ``train`` rows as eval; any other
    set is split by prompt (``split_by_prompt``). Returns (profiles, eval, a sentence saying which)."""
    if "part" in ds.outcomes.columns:
        parts = ds.outcomes["part"]
        return (ds.select_rows(parts == "context"), ds.select_rows(parts == "train"),
                "profiles = context rows, eval = train rows")
    a, b = split_by_prompt(ds, frac, seed)
    return a, b, f"prompt-disjoint split: {frac:.2f} of prompts for profiles (seed {seed}), the rest for eval"


def subsample_prompts(ds: Dataset, max_prompts: int, seed: int) -> Dataset:
    """At most ``max_prompts`` prompts, drawn uniformly (seeded); all if fewer."""
    ids = np.array(sorted(set(ds.outcomes["prompt_id"])))
    if len(ids) <= max_prompts:
        return ds
    rng = np.random.default_rng(seed)
    return ds.select_prompts(rng.choice(ids, size=max_prompts, replace=False))
