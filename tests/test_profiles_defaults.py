"""Out of the box: the repository's policies.yaml (five NVIDIA NIM models), default profiles
seeded once into an empty database, V0 scoring with no upstream key, and a clear 502 when a
request is forwarded without NVIDIA_NIM_API_KEY."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest

from profiles_support import admin, route, start_v0_gateway

REPO = Path(__file__).resolve().parents[1]
MODELS = ["gemma-2-9b-it", "llama-3.1-8b-instruct", "llama-3.1-nemotron-51b-instruct",
          "llama-3.3-nemotron-super-49b-v1", "qwen2.5-7b-instruct"]


def repo_policies(profile_size: int) -> str:
    """The repository's file with a smaller active window (fewer rows to encode in tests)."""
    text = (REPO / "policies.yaml").read_text()
    return re.sub(r"(\n    threshold: .*\n)", rf"\1    profile_size: {profile_size}\n", text)


def test_default_profiles_seeded_once_and_routed_without_a_key(v0, feature_cache, fresh_database, serve_app,
                                                              tmp_path, monkeypatch):
    monkeypatch.delenv("NVIDIA_NIM_API_KEY", raising=False)
    monkeypatch.delenv("NVIDIA_NIM_API_BASE", raising=False)
    text = repo_policies(16)
    first = start_v0_gateway(serve_app, tmp_path, fresh_database, text, v0=v0, features=feature_cache, name="1.yaml")
    listed = admin(first, "GET", "/admin/profiles").json()
    assert [(m["model"], m["rows"], m["active_rows"], m["version"]) for m in listed] == [(m, 256, 16, 1) for m in MODELS]

    decision = route(first, "What is the capital of France?")
    assert decision["policy"] == "balanced" and len(decision["candidates"]) == 5
    assert all(0 <= c["p_success"] <= 1 and c["profile_version"] == 1 for c in decision["candidates"])
    assert decision["chosen"] in MODELS

    with pytest.raises(openai.APIStatusError) as exc:
        openai.OpenAI(base_url=first.base_url + "/v1", api_key="x", max_retries=0).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert exc.value.status_code == 502
    assert exc.value.body["code"] == "upstream_key_missing"
    assert "NVIDIA_NIM_API_KEY" in exc.value.body["message"]

    # Deleted by an admin: a restart does not seed it again (seeding happens once per database).
    assert admin(first, "DELETE", "/admin/profiles/gemma-2-9b-it").status_code == 200
    second = start_v0_gateway(serve_app, tmp_path, fresh_database, text, v0=v0, features=feature_cache,
                              name="2.yaml")
    listed = admin(second, "GET", "/admin/profiles").json()
    assert [(m["model"], m["rows"], m["version"]) for m in listed] == \
        [("gemma-2-9b-it", 0, 2)] + [(m, 256, 1) for m in MODELS[1:]]
    # No profile: the cold-start prior, the P of the profiled candidate nearest in price (the two
    # 8B-priced candidates tie; the tie goes to the first name), not a silent 0.
    scored = {c["name"]: c for c in route(second, "Hi")["candidates"]}
    assert scored["gemma-2-9b-it"]["profile_version"] == 0
    assert scored["gemma-2-9b-it"]["p_success"] == scored["llama-3.1-8b-instruct"]["p_success"] > 0
