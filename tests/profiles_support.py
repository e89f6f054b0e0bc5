"""Helpers for the profile, admin and feedback tests: a cheap/strong policies file, two kinds of
prompts, a gateway with the real V0 scorer, admin calls, and a snapshot of the database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import sqlalchemy as sa

from router.app import create_app
from router.settings import Settings

ADMIN_KEY = "admin-secret"
CHEAP_PRICE, STRONG_PRICE = 0.1, 5.0  # USD per 1M tokens, in and out

# Kind A: arithmetic word problems (the cheap model fails them at first).
ARITH_TEMPLATES = [
    "{n} has {a} apples and buys {b} more. How many apples does {n} have now?",
    "A train travels {a} km per hour for {b} hours. How far does it go in total?",
    "{n} had {a} dollars and spent {b} dollars on lunch. How much money is left?",
    "A box holds {a} pencils. How many pencils are in {b} boxes?",
    "{n} reads {a} pages a day. How many pages does {n} read in {b} days?",
    "There are {a} students and {b} buses. How many students ride in each bus if shared equally?",
]
# Kind B: translations and greetings (the cheap model handles them).
LANG_TEMPLATES = [
    "Translate '{w}' into {l}.",
    "How do you say '{w}' in {l}?",
    "Say '{w}' in {l}, please.",
    "Give me the {l} word for '{w}'.",
]
NAMES = ["Tom", "Maria", "Ken", "Aisha", "Lena", "Omar", "Sara", "Ivan"]
WORDS = ["good morning", "thank you", "hello", "good night", "see you soon", "welcome", "goodbye", "please"]
LANGS = ["French", "Spanish", "German", "Italian", "Portuguese", "Dutch"]


def arithmetic(i: int) -> str:
    t = ARITH_TEMPLATES[i % len(ARITH_TEMPLATES)]
    return t.format(n=NAMES[i % len(NAMES)], a=3 + 7 * i % 41, b=2 + 5 * i % 17)


def translation(i: int) -> str:
    t = LANG_TEMPLATES[i % len(LANG_TEMPLATES)]
    return t.format(w=WORDS[(i * 3) % len(WORDS)], l=LANGS[i % len(LANGS)])


def policies_yaml(upstream_base: str, *, threshold: float = 0.5, profile_size: int = 24,
                  extra: str = "", window: str = "recent") -> str:
    """The tests' cheap/strong policies; ``window`` is the profile window policy (these tests
    count on the most recent rows forming the window)."""
    def cand(price: float) -> str:
        return (f"    model: openai/fake-ok\n    api_base: {upstream_base}\n    input_price: {price}\n"
                f"    output_price: {price}\n    timeout: 5\n    num_retries: 0\n")

    return ("default_policy: main\ncandidates:\n"
            f"  cheap:\n{cand(CHEAP_PRICE)}  strong:\n{cand(STRONG_PRICE)}{extra}"
            "policies:\n"
            f"  main:\n    candidates: [cheap, strong]\n    threshold: {threshold}\n    fallback: strong\n"
            f"    profile_size: {profile_size}\n    window: {{policy: {window}}}\n")


def jsonl(rows: list[tuple[str, float]]) -> bytes:
    return "".join(json.dumps({"prompt": p, "score": s}) + "\n" for p, s in rows).encode()


def start_v0_gateway(serve_app: Callable[[Any], Any], tmp_path: Path, database_url: str, policies_text: str,
                     *, v0: Any, features: Any, name: str = "policies.yaml", **settings: Any) -> Any:
    path = tmp_path / name
    path.write_text(policies_text)
    values: dict[str, Any] = {"database_url": database_url, "policies": path, "log_flush_s": 0.05,
                              "policy_reload_s": 0, "profile_poll_s": 0.2, "admin_key": ADMIN_KEY,
                              "state_dir": str(tmp_path / f"state-{uuid.uuid4().hex[:8]}"), **settings}
    return serve_app(create_app(Settings(**values), v0=v0, features=features))


def admin(served: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", **kwargs.pop("headers", {})}
    return httpx.request(method, served.base_url + path, headers=headers, timeout=120, **kwargs)


def upload(served: Any, model: str, rows: list[tuple[str, float]], mode: str = "append") -> httpx.Response:
    return admin(served, "POST", f"/admin/profiles/{model}?mode={mode}", content=jsonl(rows),
                 headers={"Content-Type": "application/jsonl"})


def client(served: Any, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key=key, max_retries=0)


def route(served: Any, text: str, key: str = "unused", **extra: Any) -> dict[str, Any]:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}
    r = httpx.post(served.base_url + "/v1/route", json=body, timeout=60,
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of the gateway's tables (to assert that a refused call changed nothing)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: sorted(tuple(map(str, r)) for r in conn.execute(sa.text(f"SELECT * FROM {t}")))
                    for t in ("decision", "profile_row", "profile_version", "client_key", "gateway_meta")}
    finally:
        engine.dispose()
