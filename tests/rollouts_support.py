"""The gateway the V0 endpoint tests (/v1/score, /v1/allocate, /v1/select) run against: real V0,
SQLite, a client key, 24 prompts at most per call, an upstream that is never called."""

from __future__ import annotations

from typing import Any

import httpx

from profiles_support import arithmetic, policies_yaml, start_v0_gateway, translation

KEY = "rl-key"
UNUSED_UPSTREAM = "http://127.0.0.1:9/v1"  # never called: these endpoints call no model
PROFILE = [(arithmetic(i), 0.1) for i in range(12)] + [(translation(i), 0.9) for i in range(12)]


def start(serve_app, tmp_path, v0, feature_cache, **settings: Any):
    from router.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'g.db'}"
    upgrade(url)
    return start_v0_gateway(serve_app, tmp_path, url, policies_yaml(UNUSED_UPSTREAM), v0=v0, features=feature_cache,
                            seed_profiles=False, client_keys=KEY, score_max_prompts=24, **settings)


def post(served, path: str, body: Any, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(served.base_url + path, json=body, headers=headers, timeout=120)


def inline(rows: list[tuple[str, float]] = PROFILE) -> list[dict[str, Any]]:
    return [{"prompt": p, "score": s} for p, s in rows]
