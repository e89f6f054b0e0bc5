"""Policies of a policies.yaml, as calibration targets matched to the models of a dataset.

A policy's candidate is matched to a dataset model by its candidate name, its LiteLLM model
string, or that string without the provider prefix ("openai/gpt-4o" -> "gpt-4o").
"""

from __future__ import annotations

from router.evaluation.thresholds import PolicyTarget


def match(name: str, model: str, data_models: list[str]) -> str | None:
    for key in (name, model, model.split("/", 1)[-1]):
        if key in data_models:
            return key
    return None


def load_policy_targets(path: str, data_models: list[str]) -> list[PolicyTarget]:
    from router.policies import load_policies

    pol = load_policies(path)
    targets = []
    for pname, spec in pol.policies.items():
        mapped = {c: match(c, pol.candidates[c].model, data_models) for c in spec.candidates}
        missing = [c for c, m in mapped.items() if m is None]
        if missing:
            raise SystemExit(f"calibrate: policy {pname!r}: candidates with no data: {missing} (data has {data_models})")
        targets.append(PolicyTarget(pname, [mapped[c] for c in spec.candidates], mapped[spec.fallback], spec.threshold))
    return targets
