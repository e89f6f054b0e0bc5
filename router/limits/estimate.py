"""What a chat request may use, before it is planned: its :class:`Ask`.

Tokens (for tpm): the prompt's tokens (``count_prompt_tokens``: offline, fixed image estimates)
plus, per choice (``n``), ``max_completion_tokens`` / ``max_tokens`` when set, else the policy's
``expected_output_tokens``. Worst-case cost (the budget's reservation): the prompt and, per choice,
``max_tokens`` capped by the candidate's ``max_output_tokens`` (its cap when unset), at the dearest
price among the candidates the request can reach (the policy's, or the one named).
"""

from __future__ import annotations

from router.limits.base import Ask
from router.policies import Policies
from router.protocol import ChatCompletionRequest
from router.upstream import count_prompt_tokens


def ask_for(req: ChatCompletionRequest, policies: Policies) -> Ask:
    name = policies.policy_name_for(req.model)
    policy = policies.policies.get(name) if name is not None else None
    reachable = policy.candidates if policy is not None else [req.model]
    reachable = [c for c in reachable if c in policies.candidates]
    prompt = count_prompt_tokens(req.upstream_messages())
    limit = req.max_completion_tokens or req.max_tokens
    n = req.n or 1
    expected = limit if limit is not None else (policy.expected_output_tokens if policy is not None else 256)
    worst = 0.0
    for c in reachable:
        out = min(limit, policies.candidates[c].max_output_tokens) if limit else policies.candidates[c].max_output_tokens
        price = policies.prices[c]
        worst = max(worst, prompt * price.input_per_token + n * out * price.output_per_token)
    return Ask(tokens=prompt + n * expected, usd=worst)
