"""POST /v1/select against the gateway served by uvicorn with the real V0: the choice is the
library's (``valuemodel.allocate.select``) on the same predictions as /v1/score, histories move
it, stored and inline profiles, every refusal is an envelope that computes nothing; and the
training-loop client (router/rl_client.py) with the example loop, over real HTTP."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from profiles_support import ADMIN_KEY, arithmetic, translation, upload
from rollouts_support import KEY, PROFILE, inline, post, start
from router.rl_client import SelectionClient
from valuemodel.allocate import Posterior, select

POOL = [("a0", arithmetic(100)), ("t0", translation(100)), ("a1", arithmetic(101)), ("t1", translation(101)),
        ("a2", arithmetic(102))]


@pytest.fixture
def gateway(serve_app, tmp_path, v0, feature_cache):
    return start(serve_app, tmp_path, v0, feature_cache)


def pool(history: dict[str, tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    out = []
    for pid, text in POOL:
        item: dict[str, Any] = {"id": pid, "prompt": text}
        if history and pid in history:
            item["history"] = dict(zip(("successes", "trials"), history[pid]))
        out.append(item)
    return out


def expected(p: list[float], k: int, history: dict[str, tuple[int, int]], post: Posterior, mean: float,
             group: int = 8) -> list[dict[str, Any]]:
    h = [history.get(pid, (0, 0)) for pid, _ in POOL]
    s = select(p, k, group_size=group, posterior=post, prior_mean=mean, successes=[x[0] for x in h],
               trials=[x[1] for x in h])
    return [{"id": POOL[i][0], "p_success": p[i], "p_posterior": pytest.approx(float(s.p_mean[i]), abs=1e-6),
             "p_informative": pytest.approx(float(s.p_informative[i]), abs=1e-6)} for i in s.chosen]


def test_select_is_the_library_choice_with_and_without_history(gateway):
    p = post(gateway, "/v1/score", {"profile": inline(), "prompts": [t for _, t in POOL]}).json()["p_success"]
    mean = float(np.mean([s for _, s in PROFILE]))
    r = post(gateway, "/v1/select", {"profile": inline(), "pool": pool(), "batch_size": 2,
                                     "evidence": 2.0, "shrink": 0.0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["selected"] == expected(p, 2, {}, Posterior(2.0, 0.0), mean)
    assert (body["evidence"], body["shrink"], body["profile_version"], body["profile_rows"]) == (2.0, 0.0, 0, 24)
    chosen = [c["p_informative"] for c in body["selected"]]
    assert body["expected_informative"] == pytest.approx(sum(chosen), abs=1e-5)
    # Histories move the choice; the defaults are the settings'.
    history = {"t0": (0, 4), "t1": (2, 4)}
    r = post(gateway, "/v1/select", {"profile": inline(), "pool": pool(history), "batch_size": 5, "group_size": 4})
    got = r.json()
    assert got["selected"] == expected(p, 5, history, Posterior(1.0, 0.1), mean, group=4)
    assert got["selected"][0]["id"] == "t1"  # 2 of 4: the most likely informative group
    t0 = next(c for c in got["selected"] if c["id"] == "t0")  # 0 of 4 pulls its mean far below V0's
    assert t0["p_success"] > 0.5 > 0.2 > t0["p_posterior"]
    assert (got["evidence"], got["shrink"]) == (1.0, 0.1)
    assert got["random_expected_informative"] == pytest.approx(sum(c["p_informative"] for c in got["selected"]),
                                                              abs=1e-5)


def test_select_stored_profile(gateway):
    assert upload(gateway, "cheap", PROFILE).status_code == 201
    p = post(gateway, "/v1/score", {"model": "cheap", "prompts": [t for _, t in POOL]}).json()["p_success"]
    body = post(gateway, "/v1/select", {"model": "cheap", "pool": pool(), "batch_size": 3}).json()
    assert (body["profile_version"], body["profile_rows"]) == (1, 24)
    assert body["selected"] == expected(p, 3, {}, Posterior(1.0, 0.1), float(np.mean([s for _, s in PROFILE])))
    missing = post(gateway, "/v1/select", {"model": "strong", "pool": pool(), "batch_size": 1})
    assert (missing.status_code, missing.json()["error"]["code"]) == (409, "profile_unavailable")


BAD = [
    ({"batch_size": 6}, 400, "invalid_value", "batch_size"),  # more than the pool
    ({"batch_size": 0}, 400, "invalid_value", "batch_size"),
    ({"group_size": 1}, 400, "invalid_value", "group_size"),
    ({"pool": []}, 400, "invalid_value", "pool"),
    ({"pool": [{"id": "x", "prompt": "p"}, {"id": "x", "prompt": "q"}]}, 400, "invalid_value", "pool.1.id"),
    ({"pool": [{"id": "x", "prompt": "p", "history": {"successes": 3, "trials": 2}}]}, 400, "invalid_value",
     "pool.0.history"),
    ({"pool": [{"id": "x", "prompt": "p", "history": {"successes": -1, "trials": 2}}]}, 400, "invalid_value",
     "pool.0.history.successes"),
    ({"pool": [{"id": "x", "prompt": "p", "history": {"successes": 0, "trials": 10**10}}]}, 400, "invalid_value",
     "pool.0.history.trials"),
    ({"pool": [{"id": "x", "prompt": ""}]}, 400, "invalid_value", "pool.0.prompt"),
    ({"pool": [{"id": "x", "prompt": "a\u0000"}]}, 400, "invalid_text", "pool.0.prompt"),
    ({"pool": [{"id": "x", "prompt": "p", "extra": 1}]}, 400, "unsupported_parameter", "pool.0.extra"),
    ({"model": "cheap"}, 400, "invalid_value", None),  # both a model and a profile
    ({"evidence": 0}, 400, "invalid_value", "evidence"),
    ({"batch_size": None}, 400, "missing_required_parameter", "batch_size"),
    ({"pool": [{"id": f"{i}", "prompt": "p"} for i in range(25)]}, 413, "too_many_prompts", "pool"),
    ({"profile": [{"prompt": "p", "score": 0.5}] * 25}, 413, "too_many_prompts", "profile"),
]


@pytest.mark.parametrize("change, status, code, param", BAD)
def test_bad_input_is_an_envelope_and_computes_nothing(gateway, monkeypatch, change, status, code, param):
    scorer = gateway.app.state.scorer
    calls: list[str] = []
    for name in ("predict_many", "fit_inline"):
        real = getattr(scorer, name)
        monkeypatch.setattr(scorer, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    body = {"profile": inline(), "pool": pool(), "batch_size": 2, **change}
    r = post(gateway, "/v1/select", {k: v for k, v in body.items() if v is not None})
    err = r.json()["error"]
    assert (r.status_code, err["code"], err["param"]) == (status, code, param), err
    assert set(err) == {"message", "type", "param", "code"}
    assert calls == []


def test_client_key_and_openapi(gateway):
    r = post(gateway, "/v1/select", {"profile": inline(), "pool": pool(), "batch_size": 1}, key=None)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_api_key")
    doc = httpx.get(gateway.base_url + "/openapi.json", timeout=10).json()
    schema = doc["paths"]["/v1/select"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SelectRequest"}


def _example():
    path = Path(__file__).resolve().parents[1] / "scripts" / "rl_select_loop.py"
    spec = importlib.util.spec_from_file_location("rl_select_loop", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_loop_client_end_to_end(gateway):
    loop = _example()
    prompts = loop.make_prompts(40)
    warm = loop.warm_up(prompts, 16)
    client = SelectionClient(gateway.base_url, api_key=KEY, profile=warm, profile_size=20, group_size=4)
    log = loop.run(client, prompts, steps=3, pool_size=8, batch_size=3)
    assert [len(row["chosen"]) for row in log] == [3, 3, 3]
    # The client keeps each prompt's history and the last 20 profile rows (16 warm-up + 9 new).
    new_rows = [(prompts[pid][0], st[0] / st[1]) for row in log for pid, st in row["results"].items()]
    assert list(client.profile) == warm[-11:] + new_rows
    assert sum(t for _, t in client.history.values()) == 9 * 4
    # One more step through the client equals the library's choice on /v1/score's predictions.
    pool_ids = sorted(prompts)[:8]
    texts = [prompts[i][0] for i in pool_ids]
    profile = [{"prompt": p, "score": s} for p, s in client.profile]
    p = post(gateway, "/v1/score", {"profile": profile, "prompts": texts}).json()["p_success"]
    h = [client.history.get(i, (0, 0)) for i in pool_ids]
    mean = float(np.mean([s for _, s in client.profile]))
    want = select(p, 3, group_size=4, posterior=Posterior(1.0, 0.1), prior_mean=mean,
                  successes=[x[0] for x in h], trials=[x[1] for x in h])
    got = client.select(list(zip(pool_ids, texts)), 3)
    assert [c.id for c in got] == [pool_ids[i] for i in want.chosen]
    with pytest.raises(RuntimeError, match="400"):
        client.select(list(zip(pool_ids, texts)), 9)
    client.close()


def test_client_appends_to_a_stored_profile(gateway):
    assert upload(gateway, "cheap", PROFILE).status_code == 201
    client = SelectionClient(gateway.base_url, api_key=KEY, model="cheap", admin_key=ADMIN_KEY)
    chosen = client.select(POOL, 2)
    client.record({chosen[0].id: (3, 4), chosen[1].id: (0, 4)})
    rows = httpx.get(gateway.base_url + "/admin/profiles", timeout=30,
                     headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
    cheap = next(r for r in (rows if isinstance(rows, list) else rows["data"]) if r["model"] == "cheap")
    assert (cheap["rows"], cheap["version"]) == (26, 2)
    assert client.history == {chosen[0].id: (3, 4), chosen[1].id: (0, 4)}
    again = client.select(POOL, 5)
    assert {c.id for c in again} == {pid for pid, _ in POOL}
    client.close()


def test_client_imports_neither_torch_nor_the_gateway():
    import subprocess
    import sys

    code = ("import sys, router.rl_client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'valuemodel', 'fastapi') "
            "or m.startswith('router.') and m != 'router.rl_client'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
