"""Where do everyday and hard prompts go with the shipped defaults? (issue 14's sanity suite)

    python -m bench.sanity_routing [--weights DIR] [--head NAME] [--policy balanced] [--json out/sanity.json]

Scores every prompt below against the default profiles (router/data/profiles/<candidate>.jsonl)
of the policy's candidates, then applies the gateway's decision rule (router.routing.decide)
with the policy's threshold, fallback and prices from policies.yaml. The prompts are this
project's own; ``easy`` ones should go to the two cheapest candidates, ``hard`` ones to the
strongest. Prints one line per prompt: where it goes, and every candidate's P.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from router.policies import load_policies
from router.routing import decide, expected_cost
from valuemodel import V0

ROOT = Path(__file__).resolve().parent.parent
EASY = [
    "hi", "Hello! How are you today?", "thanks!", "What is 2+2?", "What is the capital of Australia?",
    "Solve for x: 3x + 7 = 22", "Translate 'good morning' into French.", "What colour is the sky on a clear day?",
    "Give me a synonym for 'happy'.", "How many days are there in a week?", "Spell 'necessary' backwards.",
    "Write a one-sentence birthday wish for my sister.",
]
HARD = [
    "Prove that there are infinitely many primes.",
    "Prove that every bounded monotone sequence of real numbers converges, stating which axiom you use.",
    "Let f be continuous on [0,1] with f(0)=f(1). Prove that for every n there is x with f(x)=f(x+1/n).",
    "Find all integer solutions of x^3 + y^3 = z^3 + 1 with 0 < x, y, z < 100, and justify that your list is complete.",
    "Implement a lock-free multi-producer multi-consumer queue in C++ and argue why it is linearizable.",
    "Derive the Black-Scholes PDE from a delta-hedging argument and solve it for a European call.",
    "A 3x3 grid puzzle: each row, column and diagonal of a magic square sums to 15 using 1..9 once. Count the distinct magic squares up to rotation and reflection and prove the count.",
    "How many positive integers n <= 1000 make n^2 + 3n + 2 divisible by 12? Show the case analysis.",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None)
    ap.add_argument("--head", default=None)
    ap.add_argument("--policies", default=str(ROOT / "policies.yaml"))
    ap.add_argument("--profiles", default=str(ROOT / "router" / "data" / "profiles"))
    ap.add_argument("--policy", default=None, help="default: the file's default policy")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    pol = load_policies(args.policies)
    name = args.policy or pol.spec.default_policy
    policy = pol.policies[name]
    v0 = V0.load(args.weights, head=args.head)
    states = {}
    for cand in policy.candidates:
        rows = [json.loads(line) for line in (Path(args.profiles) / f"{cand}.jsonl").read_text().splitlines() if line.strip()]
        rows = rows[-policy.profile_size:]
        states[cand] = v0.fit_profile(v0.encode([r["prompt"] for r in rows]), [r["score"] for r in rows])
    by_price = sorted(policy.candidates, key=lambda c: (pol.prices[c].input_per_token, policy.candidates.index(c)))
    cheap, strong = set(by_price[:2]), set(by_price[-2:])
    out, ok = [], {"easy": 0, "hard": 0}
    print(f"head {v0.head_name}, policy {name} (threshold {policy.threshold}, fallback {policy.fallback})")
    print("  ".join(c[:14] for c in policy.candidates))
    for kind, prompts in (("easy", EASY), ("hard", HARD)):
        for text in prompts:
            p = v0.score(text, [states[c] for c in policy.candidates])
            scores = dict(zip(policy.candidates, p.tolist()))
            tokens = max(1, len(text) // 4)
            costs = {c: expected_cost(tokens, input_per_token=pol.prices[c].input_per_token,
                                      output_per_token=pol.prices[c].output_per_token,
                                      output_tokens=policy.expected_output_tokens) for c in policy.candidates}
            d = decide(candidates=policy.candidates, scores=scores, costs=costs, threshold=policy.threshold,
                       fallback=policy.fallback, strategy=policy.strategy, lam=policy.lambda_)
            good = d.chosen in (cheap if kind == "easy" else strong)
            ok[kind] += good
            out.append({"kind": kind, "prompt": text, "chosen": d.chosen, "as_intended": good, "p": scores})
            ps = " ".join(f"{v:.2f}" for v in p)
            print(f"{kind:<4} {'ok ' if good else 'NO '} {d.chosen:<32} [{ps}]  {text[:60]}")
    print(f"easy on the two cheapest: {ok['easy']}/{len(EASY)}; hard on the two strongest: {ok['hard']}/{len(HARD)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"head": v0.head_name, "policy": name, "rows": out, "ok": ok}, indent=1) + "\n")


if __name__ == "__main__":
    main()
