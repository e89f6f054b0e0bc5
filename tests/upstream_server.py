"""A tiny OpenAI-compatible upstream on loopback, for the gateway tests.

A real HTTP server (``http.server`` in a thread, HTTP/1.1, chunked streams). What it does is
chosen by the requested model name, so one server serves every behaviour at once:

- ``fake-ok``   answers ``"echo: <last user message>"`` (or streams it in three chunks)
- ``fake-500``  answers HTTP 500 with an OpenAI error body
- ``fake-slow`` sleeps ``SLOW_SECONDS`` before answering (for timeouts)
- ``fake-cut``  streams two chunks, then drops the connection without finishing the body

Usage is fixed (``PROMPT_TOKENS``, ``COMPLETION_TOKENS``) so tests can assert exact numbers.
Every request body is recorded in ``requests`` for pass-through assertions.
A port with nothing listening (``free_port()``) stands in for "connection refused".
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7
SLOW_SECONDS = 3.0
CREATED = 1_700_000_000


def free_port() -> int:
    """A loopback port that nothing listens on (at the time of the call)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content or ""
    return ""


def _usage() -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._send_json(200, {"object": "list", "data": []})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.requests.append(body)
        model = body.get("model", "")
        if model == "fake-500":
            self._send_json(500, {"error": {"message": "fake upstream exploded",
                                            "type": "server_error", "param": None, "code": None}})
            return
        if model == "fake-slow":
            time.sleep(SLOW_SECONDS)
        text = "echo: " + _last_user_text(body)
        if body.get("stream"):
            self._stream(body, model, text)
            return
        self._send_json(200, {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": _usage(),
        })

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {text}\n\n".encode())

    def _stream(self, body: dict[str, Any], model: str, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        third = max(1, len(text) // 3)
        pieces = [text[:third], text[third:2 * third], text[2 * third:]]
        self._event(_chunk(model, {"role": "assistant", "content": ""}))
        for i, piece in enumerate(pieces):
            if model == "fake-cut" and i == 2:
                # Drop the connection mid-body: no final chunk, no [DONE].
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._event(_chunk(model, {"content": piece}))
        self._event(_chunk(model, {}, finish="stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage_chunk = _chunk(model, {})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = _usage()
            self._event(usage_chunk)
        self._event("[DONE]")
        self._write_chunk(b"")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early (timeouts, cut streams) are expected here


class FakeUpstream:
    """Start with ``with FakeUpstream() as up: up.base_url``."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._server.lock:
            return list(self._server.requests)

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("model") == model]

    def __enter__(self) -> "FakeUpstream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
