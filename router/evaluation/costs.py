"""Score and cost matrices of a dataset (shared-data format), aligned on models × prompts.

Cost, in order of preference:
- `cost_usd` in outcomes.csv: the real cost of each (prompt, model) call. The router cannot know
  it before the call, so it decides with the model's *mean* cost_usd over the profile prompts.
- models.csv prices × token counts: prompt tokens counted offline with LiteLLM's token counter
  (tiktoken cl100k_base for every model, so counts are comparable), plus an assumed number of
  output tokens (the datasets do not record them). Here the router knows the expected cost
  exactly, since it is computed from the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_OUTPUT_TOKENS = 256
TOKENIZER_MODEL = "gpt-3.5-turbo"  # cl100k_base, bundled with tiktoken/litellm: no download


@dataclass(frozen=True)
class Matrices:
    models: list[str]
    prompt_ids: list[str]
    score: np.ndarray  # (M, Q) outcome in [0, 1]
    cost: np.ndarray  # (M, Q) charged cost, USD
    expected: np.ndarray  # (M, Q) the cost the router expects before calling, USD
    cost_source: str  # a sentence saying where the costs came from


def pivot(outcomes: pd.DataFrame, column: str, models: list[str], prompt_ids: list[str]) -> np.ndarray:
    table = outcomes.pivot_table(index="model", columns="prompt_id", values=column, aggfunc="mean")
    return table.reindex(index=models, columns=prompt_ids).to_numpy(dtype=float)


def complete_prompts(outcomes: pd.DataFrame, models: list[str]) -> list[str]:
    """Prompt ids graded for every one of `models`, sorted."""
    sub = outcomes[outcomes["model"].isin(models)]
    counts = sub.groupby("prompt_id")["model"].nunique()
    return sorted(counts[counts == len(models)].index.astype(str))


def count_tokens(texts: list[str]) -> np.ndarray:
    from router.litellm_setup import litellm_module

    litellm = litellm_module()  # heavy import, only when prices are used

    return np.array([litellm.token_counter(model=TOKENIZER_MODEL, text=t) for t in texts], dtype=float)


def build(
    profiles,
    evaluation,
    models: list[str],
    *,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> Matrices:
    """Matrices for `evaluation`'s prompts that every model answered. `profiles` and
    `evaluation` are `valuemodel.data.Dataset`s."""
    out = evaluation.outcomes
    prompt_ids = complete_prompts(out, models)
    if not prompt_ids:
        raise ValueError("no evaluation prompt has an outcome for every model")
    score = pivot(out, "score", models, prompt_ids)
    if "cost_usd" in out.columns and out["cost_usd"].notna().all():
        cost = pivot(out, "cost_usd", models, prompt_ids)
        source = profiles.outcomes if "cost_usd" in profiles.outcomes.columns else out
        mean = source.groupby("model")["cost_usd"].mean().reindex(models).to_numpy(dtype=float)
        expected = np.repeat(mean[:, None], len(prompt_ids), axis=1)
        note = (
            "cost_usd from outcomes.csv (real cost per query); routing decisions use each "
            "model's mean cost_usd over its profile prompts as the expected cost"
        )
        return Matrices(models, prompt_ids, score, cost, expected, note)
    prices = evaluation.prices or profiles.prices
    if not prices or any(m not in prices for m in models):
        missing = [m for m in models if not prices or m not in prices]
        raise ValueError(f"no cost_usd in outcomes.csv and no models.csv price for: {missing}")
    tokens = count_tokens([evaluation.prompts[p] for p in prompt_ids])  # (Q,)
    pin = np.array([prices[m][0] for m in models])[:, None]  # (M, 1) USD / 1M input tokens
    pout = np.array([prices[m][1] for m in models])[:, None]
    cost = (pin * tokens[None, :] + pout * output_tokens) / 1e6  # (M, Q)
    note = (
        "models.csv prices x token counts: prompt tokens by litellm.token_counter "
        f"(cl100k_base), {output_tokens} output tokens assumed per call (not in the data)"
    )
    return Matrices(models, prompt_ids, score, cost, cost.copy(), note)
