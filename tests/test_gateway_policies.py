"""policies.yaml: validation with file + line + reason, prices, and hot reload keeping the last good."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import litellm
import pytest
from fastapi.testclient import TestClient

from gateway_support import policies_yaml, start_gateway, wait_until
from router.app import create_app
from router.policies import PolicyError, load_policies, parse_policies
from router.runtime import PolicyWatcher
from router.settings import Settings

REPO_POLICIES = Path(__file__).resolve().parents[1] / "policies.yaml"

GOOD = textwrap.dedent("""\
    default_policy: main
    candidates:
      small:
        model: openai/small
        input_price: 0.5
        output_price: 1.5
      big:
        model: openai/gpt-4o
    policies:
      main:
        candidates: [small, big]
        threshold: 0.7
        fallback: big
    """)


def error_for(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as exc:
        parse_policies(text, path="p.yaml")
    return exc.value


def test_repository_policies_name_the_five_nim_models_with_list_prices():
    policies = load_policies(REPO_POLICIES)
    assert policies.spec.default_policy == "balanced"
    per_m = {name: (round(p.input_per_token * 1e6, 9), round(p.output_per_token * 1e6, 9))
             for name, p in policies.prices.items()}
    assert per_m == ({
        "gemma-2-9b-it": (0.1, 0.1), "qwen2.5-7b-instruct": (0.2, 0.2), "llama-3.1-8b-instruct": (0.2, 0.2),
        "llama-3.1-nemotron-51b-instruct": (0.9, 0.9), "llama-3.3-nemotron-super-49b-v1": (0.9, 0.9)})
    assert policies.candidates["llama-3.1-8b-instruct"].model == "nvidia_nim/meta/llama-3.1-8b-instruct"
    assert {c.api_key_env for c in policies.candidates.values()} == {"NVIDIA_NIM_API_KEY"}
    assert {"cheap", "balanced", "quality"} <= set(policies.policies)
    # Every candidate ships a default profile (seeded on first start).
    assert all((REPO_POLICIES.parent / "router" / "data" / "profiles" / f"{n}.jsonl").is_file()
               for n in policies.candidates)


def test_litellm_cost_map_prices_when_none_are_given():
    policies = parse_policies("default_policy: p\ncandidates:\n  m:\n    model: openai/gpt-4o-mini\n"
                              "policies:\n  p:\n    candidates: [m]\n    threshold: 0.5\n    fallback: m\n")
    info = litellm.model_cost["gpt-4o-mini"]
    assert policies.prices["m"].input_per_token == pytest.approx(info["input_cost_per_token"])
    assert policies.prices["m"].output_per_token == pytest.approx(info["output_cost_per_token"])


def test_good_file_defaults_and_explicit_prices():
    policies = parse_policies(GOOD)
    main = policies.policies["main"]
    assert (main.profile_size, main.strategy, main.lambda_, main.expected_output_tokens) == (256, "threshold", 0.5, 256)
    assert policies.prices["small"].input_per_token == pytest.approx(0.5e-6)
    assert policies.prices["small"].output_per_token == pytest.approx(1.5e-6)
    assert policies.policy_name_for("auto") == "main"
    assert policies.policy_name_for("router/x") == "x"
    assert policies.policy_name_for("small") is None


def test_utility_strategy_with_lambda():
    policies = parse_policies(GOOD.replace("    fallback: big\n", "    fallback: big\n    strategy: utility\n"
                                                                   "    lambda: 0.25\n"))
    assert (policies.policies["main"].strategy, policies.policies["main"].lambda_) == ("utility", 0.25)


@pytest.mark.parametrize("old, new, line, reason", [
    ("threshold: 0.7", "threshold: [0.7", 13, "invalid YAML"),
    ("threshold: 0.7", "threshold: 1.5", 12, "policies.main.threshold: Input should be less than or equal to 1"),
    ("threshold: 0.7", "treshold: 0.7", 12, "policies.main.treshold: Extra inputs are not permitted"),
    ("    threshold: 0.7\n", "", 10, "policies.main.threshold: Field required"),
    ("input_price: 0.5", "input_price: -1", 5, "candidates.small.input_price: Input should be greater than"),
    ("[small, big]", "[small, huge]", 11, "policy 'main': unknown candidate 'huge'"),
    ("fallback: big", "fallback: small2", 13, "policy 'main': fallback 'small2' is not one of its candidates"),
    ("default_policy: main", "default_policy: other", 1, "default_policy 'other' is not a defined policy"),
    ("model: openai/gpt-4o", "model: openai/no-such-model", 8,
     "candidate 'big': no input_price/output_price and LiteLLM's cost map has no entry for 'openai/no-such-model'"),
    ("  small:\n", "  auto:\n", 3, "candidate name 'auto' is reserved"),
    ("[small, big]", "[small, big, big]", 11, "policy 'main': duplicate candidates"),
])
def test_bad_file_names_file_line_and_reason(old, new, line, reason):
    assert old in GOOD
    err = error_for(GOOD.replace(old, new, 1))
    assert (err.path, err.line) == ("p.yaml", line)
    assert err.reason.startswith(reason)
    assert str(err).startswith(f"p.yaml:{line}: ")


def test_not_a_mapping_and_missing_file(tmp_path):
    assert (error_for("- a\n- b\n").line, error_for("- a\n").reason) == (1, "top level must be a mapping")
    with pytest.raises(PolicyError, match="cannot read file"):
        load_policies(tmp_path / "missing.yaml")


def test_bad_file_refused_at_start(tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text(GOOD.replace("threshold: 0.7", "threshold: 2"))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/x.db", policies=path))
    with pytest.raises(PolicyError, match=r"policies.yaml:12: policies.main.threshold"):
        with TestClient(app):
            pass


def test_watcher_keeps_last_good_on_bad_edit(tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text(GOOD)
    watcher = PolicyWatcher(path)
    first = watcher.runtime
    assert watcher.reload() is False  # unchanged
    path.write_text(GOOD.replace("threshold: 0.7", "threshold: nope"))
    assert watcher.reload() is False
    assert watcher.runtime is first
    assert watcher.last_error.startswith(f"{path}:12: policies.main.threshold")
    path.write_text(GOOD.replace("threshold: 0.7", "threshold: 0.9"))
    assert watcher.reload() is True
    assert watcher.runtime.policies.policies["main"].threshold == 0.9
    assert watcher.last_error is None


def test_hot_reload_in_running_gateway(serve_app, tmp_path, database_url, upstream):
    served = start_gateway(serve_app, tmp_path, database_url, upstream.base_url, policy_reload_s=0.05)
    path = tmp_path / "policies.yaml"
    text = policies_yaml(upstream.base_url)

    def model_ids():
        return [m["id"] for m in httpx.get(served.base_url + "/v1/models").json()["data"]]

    path.write_text(text + "  extra:\n    candidates: [ok]\n    threshold: 0.1\n    fallback: ok\n")
    wait_until(lambda: "router/extra" in model_ids())
    path.write_text(text + "  broken_policy:\n    candidates: [ok]\n    threshold: high\n    fallback: ok\n")
    ready = wait_until(lambda: httpx.get(served.base_url + "/readyz").json()["policies_error"])
    assert ready.endswith("policies.broken_policy.threshold: Input should be a valid number, "
                          "unable to parse string as a number")
    assert f":{text.count(chr(10)) + 3}: " in ready  # the line of "threshold: high"
    assert "router/extra" in model_ids()  # the last good version still serves
    response = httpx.post(served.base_url + "/v1/chat/completions", timeout=10,
                          json={"model": "router/extra", "messages": [{"role": "user", "content": "hi"}]})
    assert (response.status_code, response.headers["x-v0-model"]) == (200, "ok")
