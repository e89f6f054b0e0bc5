"""The shadow rule in a running gateway with the real V0 scorer: a shadow call goes to the
candidate whose profile is farthest from the prompt (router/scoring/coverage.py), so the same
policy shadows a translation with the arithmetic-only model and a sum with the translation-only
one."""

from __future__ import annotations

from sqlalchemy import text

from gateway_support import engine_for, wait_until
from profiles_support import arithmetic, client, policies_yaml, start_v0_gateway, translation, upload


def policies(base: str) -> str:
    def cand(name: str, model: str, price: float) -> str:
        return (f"  {name}:\n    model: openai/{model}\n    api_base: {base}\n    input_price: {price}\n"
                f"    output_price: {price}\n    timeout: 5\n    num_retries: 0\n")

    text_ = policies_yaml(base, threshold=0.5, extra=cand("mid", "fake-ok", 1.0) + cand("judge", "fake-judge", 0.1))
    return text_.replace("candidates: [cheap, strong]", "candidates: [cheap, mid, strong]") + (
        "grading:\n  judge: judge\n  sample_rate: 0\n  shadow_rate: 1\n  max_usd_per_day: 5\n")


def shadowed(url: str, decision_id: str) -> str:
    def row():
        with engine_for(url).connect() as conn:
            return conn.execute(text("SELECT model FROM grade WHERE kind = 'shadow' AND decision_id = :d"),
                                {"d": decision_id}).first()
    return wait_until(row, timeout=30)[0]


def test_the_shadow_goes_to_the_profile_farthest_from_the_prompt(serve_app, tmp_path, database_url, upstream, v0,
                                                                feature_cache):
    served = start_v0_gateway(serve_app, tmp_path, database_url, policies(upstream.base_url), v0=v0,
                              features=feature_cache)
    # cheap succeeds at both kinds (so it answers everything); mid only ever saw translations,
    # strong only arithmetic.
    upload(served, "cheap", [(translation(i), 1.0) for i in range(12)] + [(arithmetic(i), 1.0) for i in range(12)])
    upload(served, "mid", [(translation(i), 1.0) for i in range(12, 36)])
    upload(served, "strong", [(arithmetic(i), 1.0) for i in range(12, 36)])
    for ask, expected in ((translation(50), "strong"), (arithmetic(50), "mid"),
                          (translation(51), "strong"), (arithmetic(51), "mid")):
        raw = client(served).chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": ask}])
        assert raw.headers["x-v0-model"] == "cheap"
        assert shadowed(database_url, raw.headers["x-v0-decision-id"]) == expected, ask
