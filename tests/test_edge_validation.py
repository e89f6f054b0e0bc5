"""Input that used to reach the database or the parser unchecked: deep JSON, NUL and lone
surrogates in ids, names and uploads, ids beyond the database's integer, repeated prompts in an
upload, a client that never finishes its body. Each is a 4xx envelope and changes nothing."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from gateway_support import start_gateway
from profiles_support import snapshot

ADMIN = {"Authorization": "Bearer adm"}
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def gateway(serve_app, tmp_path, fresh_database, upstream):
    return start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, admin_key="adm",
                         body_read_timeout_s=1.0)


def call(served, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, served.base_url + path, headers={**ADMIN, **kw.pop("headers", {})},
                         timeout=30, **kw)


def error(r: httpx.Response) -> tuple[int, str, str]:
    body = r.json()["error"]
    return r.status_code, body["code"], body["message"]


def test_bad_admin_and_route_inputs_are_4xx_and_change_nothing(gateway, fresh_database):
    assert call(gateway, "POST", "/admin/profiles/ok", content='{"prompt": "kept", "score": 1}\n').status_code == 201
    before = snapshot(fresh_database)
    nested = (400, "too_deeply_nested", "JSON nested deeper than 32 levels.")
    cases = [
        (("POST", "/v1/route"), {"content": DEEP}, nested),
        (("POST", "/admin/keys"), {"content": DEEP}, nested),
        (("POST", "/admin/profiles/ok/delete"), {"content": DEEP}, nested),
        (("POST", "/admin/keys"), {"json": {"name": "a\x00b"}},
         (400, "invalid_text", "name: text contains a NUL character.")),
        (("POST", "/admin/keys"), {"content": b'{"name": "\\ud800"}'},
         (400, "invalid_text", "name: text contains a lone UTF-16 surrogate.")),
        (("GET", "/admin/profiles/a%00b"), {},
         (400, "invalid_value", "path.model: String should match pattern '^[^\\x00]+$'")),
        (("DELETE", "/admin/profiles/a%00b"), {},
         (400, "invalid_value", "path.model: String should match pattern '^[^\\x00]+$'")),
        (("DELETE", f"/admin/keys/{2**31}"), {},
         (400, "invalid_value", "path.key_id: Input should be less than or equal to 2147483647")),
        (("POST", "/admin/profiles/ok/delete"), {"json": {"ids": [2**31]}},
         (400, "invalid_value", "ids.0: Input should be less than or equal to 2147483647")),
        (("POST", "/admin/profiles/ok"), {"content": '{"prompt": "a\\u0000b", "score": 1}\n'},
         (400, "invalid_profile", "line 1: prompt: Value error, text contains a NUL character")),
        (("POST", "/admin/profiles/ok"), {"content": '{"prompt": "\\ud800", "score": 1}\n'},
         (400, "invalid_profile", "line 1: prompt: Input should be a valid string, unable to parse raw data as "
                                  "a unicode string")),
        (("POST", "/admin/profiles/ok"), {"content": b'{"prompt": "x", "score": 1}\n' + DEEP + b"\n",
                                          "headers": {"content-type": "application/jsonl"}},
         (400, "invalid_profile", "line 2: JSON nested too deeply")),
        (("POST", "/admin/profiles/ok"), {"content": "prompt,score\nsame,1\nother,0\nsame,0\n",
                                          "headers": {"content-type": "text/csv"}},
         (400, "invalid_profile", "line 4: prompt: the same prompt as line 2 (one row per prompt; "
                                  "average repeated grades first)")),
    ]
    for (method, path), kw, expected in cases:
        assert (method, path, error(call(gateway, method, path, **kw))) == (method, path, expected)
    assert snapshot(fresh_database) == before


def test_a_client_that_never_finishes_its_body_gets_408(gateway):
    host, port = gateway.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2000000\r\n\r\n" + b" " * 100)
        started = time.monotonic()
        reply = b""
        while b"}}" not in reply and (data := sock.recv(65536)):
            reply += data
        waited = time.monotonic() - started
    reply = reply.decode()
    assert reply.startswith("HTTP/1.1 408 ")
    assert '"code":"request_timeout"' in reply
    assert waited < 10


def test_openapi_declares_the_real_bodies_and_the_error_envelope(gateway):
    spec = httpx.get(gateway.base_url + "/openapi.json").json()
    for path, schema in [("/v1/chat/completions", "ChatCompletionRequest"), ("/v1/route", "ChatCompletionRequest"),
                         ("/v1/feedback", "FeedbackRequest"), ("/admin/keys", "ClientKeyCreate"),
                         ("/admin/profiles/{model}/delete", "DeleteRows")]:
        op = spec["paths"][path]["post"]
        assert op["requestBody"]["content"]["application/json"]["schema"] == \
            {"$ref": f"#/components/schemas/{schema}"}, path
        assert "422" not in op["responses"], path
        assert op["responses"]["400"]["content"]["application/json"]["schema"] == \
            {"$ref": "#/components/schemas/ErrorResponse"}, path
    assert "temperature" in spec["components"]["schemas"]["ChatCompletionRequest"]["properties"]
