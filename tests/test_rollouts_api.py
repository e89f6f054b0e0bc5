"""POST /v1/score and POST /v1/allocate against the gateway served by uvicorn with the real V0:
predictions equal the library's, stored and inline profiles, budgets, and every refusal is an
OpenAI envelope that computes nothing."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from profiles_support import arithmetic, translation, upload
from rollouts_support import PROFILE, inline, post, start
from valuemodel.allocate import Posterior, allocate, allocate_robust, informative, uniform

PROMPTS = [arithmetic(100), translation(100), arithmetic(101), translation(101), arithmetic(102)]


@pytest.fixture
def gateway(serve_app, tmp_path, v0, feature_cache):
    return start(serve_app, tmp_path, v0, feature_cache)


def library_p(v0, rows: list[tuple[str, float]], prompts: list[str]) -> np.ndarray:
    state = v0.fit_profile(v0.encode([p for p, _ in rows]), [s for _, s in rows])
    return v0.predict([state], v0.encode(prompts))[0]  # (Q,)


def test_score_inline_profile_is_the_library_prediction(gateway, v0):
    r = post(gateway, "/v1/score", {"profile": inline(), "prompts": PROMPTS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["profile_version"], body["profile_rows"]) == (0, 24)
    assert body["p_success"] == pytest.approx(library_p(v0, PROFILE, PROMPTS).tolist(), abs=2e-6)
    # The profile says arithmetic fails and translation succeeds; V0 reads it.
    p = body["p_success"]
    assert max(p[0], p[2], p[4]) < min(p[1], p[3])


def test_score_stored_profile(gateway, v0):
    assert upload(gateway, "cheap", PROFILE).status_code == 201
    body = post(gateway, "/v1/score", {"model": "cheap", "prompts": PROMPTS}).json()
    assert (body["profile_version"], body["profile_rows"]) == (1, 24)
    assert body["p_success"] == pytest.approx(library_p(v0, PROFILE, PROMPTS).tolist(), abs=2e-6)
    missing = post(gateway, "/v1/score", {"model": "strong", "prompts": PROMPTS})
    assert (missing.status_code, missing.json()["error"]["code"]) == (409, "profile_unavailable")
    unknown = post(gateway, "/v1/score", {"model": "nope", "prompts": PROMPTS})
    assert (unknown.status_code, unknown.json()["error"]["code"], unknown.json()["error"]["param"]) == \
        (404, "model_not_found", "model")


def test_allocate_robust_and_point(gateway):
    p = post(gateway, "/v1/score", {"profile": inline(), "prompts": PROMPTS}).json()["p_success"]
    body = {"profile": inline(), "prompts": PROMPTS, "total_budget": 40, "min_budget": 2, "max_budget": 16}
    robust = post(gateway, "/v1/allocate", {**body, "evidence": 50.0, "shrink": 0.0}).json()
    expected = allocate_robust(p, 40, min_budget=2, max_budget=16, posterior=Posterior(50.0, 0.0),
                               prior_mean=float(np.mean([s for _, s in PROFILE])))
    assert robust["p_success"] == p and robust["profile_version"] == 0
    assert robust["budgets"] == expected.budgets.tolist() and sum(robust["budgets"]) == 40
    assert robust["method"] == expected.method
    assert robust["expected_informative"] == pytest.approx(expected.expected_informative, abs=1e-6)
    assert robust["uniform_expected_informative"] == pytest.approx(expected.uniform_expected_informative, abs=1e-6)
    assert robust["expected_informative"] >= robust["uniform_expected_informative"]

    point = post(gateway, "/v1/allocate", {**body, "method": "point"}).json()
    assert point["budgets"] == allocate(p, 40, min_budget=2, max_budget=16).tolist()
    assert point["method"] == "point"
    assert point["expected_informative"] == pytest.approx(informative(p, point["budgets"]), abs=1e-6)
    assert point["uniform_expected_informative"] == pytest.approx(informative(p, uniform(5, 40)), abs=1e-6)
    # Defaults: min 2, max 128, the robust method with the configured posterior.
    default = post(gateway, "/v1/allocate", {"profile": inline(), "prompts": PROMPTS, "total_budget": 10}).json()
    assert default["budgets"] == [2, 2, 2, 2, 2] and default["method"] == "uniform"


BAD = [
    ("/v1/allocate", {"total_budget": 9}, 400, "invalid_value", "total_budget"),  # below 2 x 5
    ("/v1/allocate", {"total_budget": 641}, 400, "invalid_value", "total_budget"),  # above 128 x 5
    ("/v1/allocate", {"total_budget": 20, "min_budget": 4, "max_budget": 3}, 400, "invalid_value", "max_budget"),
    ("/v1/allocate", {"total_budget": 20, "min_budget": 0}, 400, "invalid_value", "min_budget"),
    ("/v1/allocate", {"total_budget": 20, "prompts": []}, 400, "invalid_value", "prompts"),
    ("/v1/allocate", {"total_budget": 20, "evidence": 0}, 400, "invalid_value", "evidence"),
    ("/v1/allocate", {"total_budget": 20.5}, 400, "invalid_value", "total_budget"),
    ("/v1/allocate", {}, 400, "missing_required_parameter", "total_budget"),
    ("/v1/score", {"prompts": []}, 400, "invalid_value", "prompts"),
    ("/v1/score", {"prompts": [""]}, 400, "invalid_value", "prompts.0"),
    ("/v1/score", {"model": "cheap"}, 400, "invalid_value", None),  # both a model and a profile
    ("/v1/score", {"profile": None}, 400, "invalid_value", None),  # neither
    ("/v1/score", {"profile": [{"prompt": "x", "score": 1.5}]}, 400, "invalid_value", "profile.0.score"),
    ("/v1/score", {"extra": 1}, 400, "unsupported_parameter", "extra"),
    ("/v1/score", {"prompts": ["a\u0000b"]}, 400, "invalid_text", "prompts.0"),
    ("/v1/score", {"prompts": ["p"] * 25}, 413, "too_many_prompts", "prompts"),
    ("/v1/score", {"profile": [{"prompt": "p", "score": 0.5}] * 25}, 413, "too_many_prompts", "profile"),
    ("/v1/score", {"prompts": ["p", "x" * 32_769]}, 400, "prompt_too_long", "prompts.1"),
    ("/v1/score", {"profile": [{"prompt": "x" * 32_769, "score": 0.5}]}, 400, "prompt_too_long", "profile.0.prompt"),
    ("/v1/allocate", {"total_budget": 10**12, "max_budget": 10**12}, 400, "budget_too_large", "total_budget"),
    ("/v1/allocate", {"total_budget": 10_000_001, "max_budget": 10**7}, 400, "budget_too_large", "total_budget"),
]


@pytest.mark.parametrize("path, change, status, code, param", BAD)
def test_bad_input_is_an_envelope_and_computes_nothing(gateway, monkeypatch, path, change, status, code, param):
    scorer = gateway.app.state.scorer
    calls: list[str] = []
    for name in ("predict_many", "fit_inline"):
        real = getattr(scorer, name)
        monkeypatch.setattr(scorer, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    body = {"profile": inline(), "prompts": PROMPTS, **change}
    r = post(gateway, path, {k: v for k, v in body.items() if v is not None})
    err = r.json()["error"]
    assert (r.status_code, err["code"], err["param"]) == (status, code, param), err
    assert set(err) == {"message", "type", "param", "code"}
    assert calls == []


def test_client_key_and_openapi(gateway):
    r = post(gateway, "/v1/score", {"profile": inline(), "prompts": PROMPTS}, key=None)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_api_key")
    doc = httpx.get(gateway.base_url + "/openapi.json", timeout=10).json()
    for path, model in (("/v1/score", "ScoreRequest"), ("/v1/allocate", "AllocateRequest")):
        schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}
        assert model in doc["components"]["schemas"]


def test_stand_in_scorer_has_no_v0(serve_app, tmp_path, feature_cache):
    served = start(serve_app, tmp_path, None, feature_cache, scorer="stand-in")
    r = post(served, "/v1/score", {"profile": inline(), "prompts": PROMPTS})
    assert (r.status_code, r.json()["error"]["code"]) == (503, "v0_unavailable")
