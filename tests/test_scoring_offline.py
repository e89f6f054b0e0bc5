"""The scoring path takes nothing from the network: an image part whose URL points at a stalled
server is counted by a fixed estimate (no connection reaches it), so concurrent requests keep real
scores; malformed content parts are a 400 at validation, before any scoring, on both
/v1/chat/completions and /v1/route."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from gateway_support import count_decisions, start_gateway
from router.upstream import IMAGE_TOKENS, count_prompt_tokens


class StalledServer:
    """Accepts connections and never answers; counts what reached it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def stalled():
    server = StalledServer()
    yield server
    server.close()


@pytest.fixture
def gateway(serve_app, tmp_path, fresh_database, upstream):
    return start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, scoring_timeout_s=2.0)


def image_message(url: str, detail: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "what is in this picture?"},
                                         {"type": "image_url", "image_url": {"url": url, "detail": detail}}]}]


def test_image_urls_are_never_fetched_and_concurrent_requests_keep_their_scores(gateway, stalled):
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="x", max_retries=0, timeout=20)
    image = image_message(f"http://127.0.0.1:{stalled.port}/cat.png", "high")

    def ask(i: int):
        messages = image if i % 4 == 0 else [{"role": "user", "content": f"question {i}"}]
        return client.chat.completions.with_raw_response.create(model="router/balanced", messages=messages)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(32)))
    assert [a.http_response.status_code for a in answers] == [200] * 32
    assert [a.headers.get("x-v0-fallback-reason") for a in answers] == [None] * 32
    assert {a.headers["x-v0-model"] for a in answers} == {"ok"}  # scored: 0.8 clears 0.7, the cheap one
    assert stalled.accepted == []


def test_image_token_estimate_is_fixed_per_detail_level():
    base = count_prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "what is in this picture?"}]}])
    for detail, tokens in IMAGE_TOKENS.items():
        counted = count_prompt_tokens(image_message("http://127.0.0.1:9/never.png", detail))
        assert counted == base + tokens
    assert IMAGE_TOKENS == {"low": 85, "high": 765, "auto": 765}


MALFORMED = [
    ([{"text": "no type"}], "each content part must be an object with a string 'type'"),
    ([{"type": 5, "text": "a"}], "each content part must be an object with a string 'type'"),
    ([{"type": "text", "text": "a"}, {"type": "zzz"}],
     "unsupported content part type 'zzz' (one of text, refusal, image_url, input_audio, file)"),
    ([{"type": "image_url"}], "a 'image_url' part needs 'image_url' as an object"),
    ([{"type": "image_url", "image_url": 5}], "a 'image_url' part needs 'image_url' as an object"),
    ([{"type": "image_url", "image_url": {}}], "image_url.url must be a string"),
    ([{"type": "image_url", "image_url": {"url": 5}}], "image_url.url must be a string"),
    ([{"type": "image_url", "image_url": {"url": "data:,", "detail": 5}}],
     "image_url.detail must be one of auto, low, high"),
    ([{"type": "input_audio", "input_audio": 5}], "a 'input_audio' part needs 'input_audio' as an object"),
    ([{"type": "text", "text": 5}], "a 'text' part needs 'text' as a string"),
]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/route"])
def test_malformed_content_is_a_400_before_scoring(gateway, fresh_database, upstream, path):
    before_rows, before_calls = count_decisions(fresh_database), len(upstream.requests)
    for parts, problem in MALFORMED:
        body = {"model": "router/balanced", "messages": [{"role": "user", "content": "hi"},
                                                         {"role": "user", "content": parts}]}
        r = httpx.post(gateway.base_url + path, json=body, timeout=10)
        assert (r.status_code, r.json()["error"]) == (400, {
            "message": f"messages.1.content: Value error, {problem}", "type": "invalid_request_error",
            "param": "messages.1.content", "code": "invalid_value"}), parts
    calls = [{"role": "assistant", "content": "a", "tool_calls": tc} for tc in ([{}], [{"function": 5}])]
    for message in calls:
        r = httpx.post(gateway.base_url + path, json={"model": "router/balanced",
                                                      "messages": [message, {"role": "user", "content": "b"}]})
        assert (r.status_code, r.json()["error"]["param"]) == (400, "messages.0.tool_calls")
    assert (count_decisions(fresh_database), len(upstream.requests)) == (before_rows, before_calls)
