"""`v0-gateway serve` with the default V0 scorer runs on onnxruntime + numpy: a real gateway
process never imports torch (GET /admin/status says so), and /v1/route gives the P(success)
that the torch V0 gives for the same profiles and prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import numpy as np

from bench.faults.gateway_process import CLIENT_KEY, GatewayProcess
from profiles_support import ADMIN_KEY, arithmetic, jsonl, translation
from router.migrate import upgrade

PROFILES = {
    "ok": [(arithmetic(i), 0.0) for i in range(10)] + [(translation(i), 1.0) for i in range(10)],
    "strong": [(arithmetic(i), 1.0) for i in range(10)] + [(translation(i), 0.6) for i in range(10)],
}
QUERIES = [arithmetic(200), translation(201), "Summarise the plot of Hamlet in two sentences."]


def _admin(gw: GatewayProcess, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, gw.base_url + path, timeout=120,
                         headers={"Authorization": f"Bearer {ADMIN_KEY}", **kw.pop("headers", {})}, **kw)


def _route(gw: GatewayProcess, text: str) -> dict[str, float]:
    r = httpx.post(gw.base_url + "/v1/route", timeout=60, headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                   json={"model": "auto", "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200, r.text
    return {c["name"]: (c["p_success"], c["profile_version"]) for c in r.json()["candidates"]}


def test_serve_has_no_torch_and_routes_like_the_torch_v0(tmp_path, upstream, v0):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    gw = GatewayProcess(tmp_path, url, upstream.base_url, V0_SCORER="v0", V0_ADMIN_KEY=ADMIN_KEY,
                        V0_PROFILE_POLL_S="0.2").start(timeout=120)
    try:
        for model, rows in PROFILES.items():
            r = _admin(gw, "POST", f"/admin/profiles/{model}", content=jsonl(rows),
                       headers={"Content-Type": "application/jsonl"})
            assert r.status_code == 201, r.text
        deadline = time.monotonic() + 60
        while any(v == 0 for _, v in _route(gw, "hello").values()):  # states rebuilt with the uploads
            assert time.monotonic() < deadline, "profiles not loaded"
            time.sleep(0.2)
        got = {q: _route(gw, q) for q in QUERIES}
        status = _admin(gw, "GET", "/admin/status").json()
        assert status["process"]["torch_loaded"] is False
        assert status["process"]["v0_runtime"] == "V0Runtime"
        assert status["process"]["gc_frozen_objects"] > 0  # start-up memory released (router/memory.py)
        assert status["process"]["rss_mib"] > 0
    finally:
        gw.stop()
    states = [v0.fit_profile(v0.encode([p for p, _ in rows]), [s for _, s in rows]) for rows in PROFILES.values()]
    for q in QUERIES:
        want = v0.predict(states, v0.encode([q]))[:, 0]  # torch path, (M,)
        have = np.array([got[q][name][0] for name in PROFILES])
        assert np.abs(want - have).max() <= 1e-5 + 5e-7, (q, want, have)  # + the 6-decimal rounding


def test_missing_onnx_file_is_exported_in_a_subprocess(tmp_path):
    """With an empty cache the runtime builds its ONNX file in a short-lived subprocess (torch
    there), and the calling process still has no torch."""
    code = ("import sys; from valuemodel import V0Runtime; v = V0Runtime.load(); v.encode(['hi']); "
            "print(json.dumps(['torch' in sys.modules, 'transformers' in sys.modules]))")
    env = {**os.environ, "V0_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                         check=True, env=env, timeout=600)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, False]
    assert list((tmp_path / "cache" / "onnx").glob("*-int8.onnx"))
