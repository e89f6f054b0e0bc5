"""A synthetic GRPO loop that chooses its prompts through a running gateway (``POST /v1/select``).

    python scripts/rl_select_loop.py --base-url http://127.0.0.1:8000 --steps 20 [--api-key KEY]

The "policy" is simulated: prompt i's pass rate is sigmoid(skill - difficulty_i), where the
difficulty grows with the size of the numbers in the prompt (so its text tells V0 something),
and the skill grows with the informative groups of each step. Each step draws a pool, keeps the
batch the gateway selects, "rolls out" group_size samples of each chosen prompt (binomial draws),
records them (the policy's profile and each prompt's history) and prints the informative groups
beside what a random batch of the same pool would have expected.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from router.rl_client import SelectionClient  # noqa: E402

OPS = [("add", "+"), ("multiply", "x")]


def make_prompts(n: int, seed: int = 0) -> dict[str, tuple[str, float]]:
    """id -> (prompt, difficulty): bigger numbers and multiplication are harder."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        digits = int(rng.integers(1, 7))
        word, sign = OPS[int(rng.integers(0, 2))]
        a, b = (int(rng.integers(10 ** (digits - 1), 10 ** digits)) for _ in range(2))
        out[f"q{i}"] = (f"Please {word} these numbers exactly: {a} {sign} {b}. Give only the result.",
                        digits * (1.6 if word == "multiply" else 0.8) - 3.0)
    return out


def pass_rate(skill: float, difficulty: float) -> float:
    return 1.0 / (1.0 + math.exp(difficulty - skill))


def run(client: SelectionClient, prompts: dict[str, tuple[str, float]], *, steps: int, pool_size: int,
        batch_size: int, seed: int = 0, lr: float = 0.05) -> list[dict]:
    """The training loop; returns one record per step."""
    rng = np.random.default_rng(seed)
    ids, skill, log = sorted(prompts), 0.0, []
    g = client.group_size
    for step in range(steps):
        pool = [(pid, prompts[pid][0]) for pid in rng.choice(ids, size=pool_size, replace=False)]
        chosen = client.select(pool, batch_size)
        results = {c.id: (int(rng.binomial(g, pass_rate(skill, prompts[c.id][1]))), g) for c in chosen}
        informative = sum(0 < s < g for s, _ in results.values())
        rates = [pass_rate(skill, prompts[pid][1]) for pid, _ in pool]
        random_expected = batch_size * float(np.mean([1 - p ** g - (1 - p) ** g for p in rates]))
        client.record(results)
        skill += lr * informative
        log.append({"step": step, "chosen": [c.id for c in chosen], "results": results, "informative": informative,
                    "random_expected": random_expected, "skill": skill})
    return log


def warm_up(prompts: dict[str, tuple[str, float]], n: int, seed: int = 1) -> list[tuple[str, float]]:
    """The policy's first profile: n prompts rolled out 8 times each before training."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(sorted(prompts), size=n, replace=False)
    return [(prompts[p][0], float(rng.binomial(8, pass_rate(0.0, prompts[p][1]))) / 8) for p in picked]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", default="http://127.0.0.1:8000")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--pool-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    prompts = make_prompts(2000)
    client = SelectionClient(args.base_url, api_key=args.api_key, profile=warm_up(prompts, 64))
    total = expected = 0.0
    for row in run(client, prompts, steps=args.steps, pool_size=args.pool_size, batch_size=args.batch_size):
        total, expected = total + row["informative"], expected + row["random_expected"]
        print(f"step {row['step']:3d}  informative groups {row['informative']:3d} / {args.batch_size}  "
              f"(a random batch: {row['random_expected']:.1f})  skill {row['skill']:.2f}", flush=True)
    print(f"total {total:.0f} informative groups; a random batch each step would expect {expected:.1f}")
    client.close()


if __name__ == "__main__":
    main()
