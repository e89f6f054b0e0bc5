"""One OpenAI-compatible upstream on loopback, for the tests and the overhead benchmarks.

A bare ASGI app on uvicorn (no framework, so that it costs as little as possible per request):
POST .../chat/completions (JSON, or ``stream: true`` SSE with ``stream_options.include_usage``),
GET .../models, GET /health. What a chat call does is chosen by the requested model name, so one
server serves every behaviour at once:

- ``fake-500``  answers HTTP 500 with an OpenAI error body
- ``fake-huge`` answers like any other with a prompt token count beyond 32 bits (JSON only)
- ``fake-401``  answers HTTP 401 echoing the caller's API key in its message, as some providers do
- ``fake-slow`` waits ``SLOW_SECONDS`` before answering (for timeouts)
- ``fake-cut``  streams two of the three content pieces, then drops the connection mid-body
- ``fake-judge`` answers the grade object ``{"grade": JUDGE_GRADE, "reason": ...}`` (a judge)
- ``fake-judge-prose`` answers prose around a grade (a judge reply that must be refused)
- ``fake-gate`` waits until the app's ``gate`` (a ``threading.Event``) is set before answering (a
               stream: after its first content piece), so a test holds requests in flight for as
               long as it needs, without sleeping
- any other     answers ``"echo: <last user message>"`` (streamed in three pieces); when the last
  message is a tool result, ``"tool said: <its content>"``; with ``tools`` and ``tool_choice``
  ``"required"`` (or one named function) after a user message, a call of that (or the first) tool
  with arguments ``{"q": <last user message>}`` (streamed: name, then the arguments in two pieces)

POST .../embeddings answers a fixed 4-number vector per input (usage: ``EMBED_TOKENS`` per input).

Usage is fixed (``PROMPT_TOKENS``, ``COMPLETION_TOKENS``) so tests can assert exact numbers.

Two ways to run it:
- in process, in a thread (tests): ``with LoopbackUpstream() as up: up.base_url``; every chat
  request body is recorded in ``up.requests`` for pass-through assertions;
- as its own process (overhead benchmarks), from the repository root:
  ``python -m bench.loopback --port N``, or ``with loopback_process() as base_url: ...``.

``free_port()`` gives a loopback port with nothing listening (also "connection refused").
``ServerThread`` serves any ASGI app in a thread (the tests serve the gateway with it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench.loopback_answers import EMBED_TOKENS, answer_text as _answer_text, embeddings as _embeddings  # noqa: F401
from bench.loopback_answers import tool_call as _tool_call
from bench.loopback_answers import (COMPLETION_TOKENS, CREATED, HUGE_TOKENS, PROMPT_TOKENS,  # noqa: F401
                                    chunk as _chunk, completion as _completion, error as _error, usage as _usage)

SLOW_SECONDS = 3.0
JUDGE_GRADE = 0.75
HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def free_port() -> int:
    """A loopback port that nothing listens on (at the time of the call)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# ---- answers ---------------------------------------------------------------------------------

class StreamCut(Exception):
    """Raised by the app to make uvicorn drop the connection mid-body (``fake-cut``)."""


class _HideStreamCut(logging.Filter):
    """Keeps uvicorn from logging the deliberate ``StreamCut`` as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamCut))


def _quiet_stream_cuts() -> None:
    log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideStreamCut) for f in log.filters):
        log.addFilter(_HideStreamCut())


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def _wait(gate: threading.Event | None) -> None:
    while gate is not None and not gate.is_set():
        await asyncio.sleep(0.01)


async def _stream(send: Send, body: dict[str, Any], model: str, text: str,
                  call: dict[str, Any] | None = None, gate: threading.Event | None = None) -> None:
    """SSE: a role chunk, three content pieces, a finish chunk, a usage chunk if asked, [DONE]."""
    async def event(payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        await send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True})

    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    third = max(1, len(text) // 3)
    await event(_chunk(model, {"role": "assistant", "content": ""}))
    if call:
        args = call["function"]["arguments"]
        half = len(args) // 2
        head = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        for delta in (head, {"function": {"arguments": args[:half]}}, {"function": {"arguments": args[half:]}}):
            await event(_chunk(model, {"tool_calls": [{"index": 0, **delta}]}))
    for i, piece in enumerate([] if call else [text[:third], text[third:2 * third], text[2 * third:]]):
        if model == "fake-cut" and i == 2:
            raise StreamCut("fake-cut: connection dropped mid-body (no final chunk, no [DONE])")
        await event(_chunk(model, {"content": piece}))
        if i == 0:
            await _wait(gate)
    await event(_chunk(model, {}, finish="tool_calls" if call else "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        await event({**_chunk(model, {}), "choices": [], "usage": _usage()})
    await event("[DONE]")
    await send({"type": "http.response.body", "body": b""})


# ---- the app ---------------------------------------------------------------------------------

class LoopbackApp:
    """The ASGI app. With ``record=True`` it keeps every chat request body (thread-safe read)."""

    def __init__(self, *, record: bool = False) -> None:
        self.record = record
        self.gate = threading.Event()  # what ``fake-gate`` waits for
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        path, method = scope["path"], scope["method"]
        if method == "POST" and path.endswith(("/chat/completions", "/embeddings")):
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                await _send_json(send, 400, _error("body is not JSON", "invalid_request_error"))
                return
            auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            await self._chat(send, body if isinstance(body, dict) else {}, auth, embed=path.endswith("/embeddings"))
        elif method == "GET" and path.endswith("/models"):
            await _send_json(send, 200, {"object": "list", "data": []})
        elif path in ("/health", "/health/readiness"):
            await _send_json(send, 200, {"status": "ok"})
        else:
            await _send_json(send, 404, _error("not found", "invalid_request_error"))

    async def _chat(self, send: Send, body: dict[str, Any], auth: str = "", embed: bool = False) -> None:
        if self.record:
            with self._lock:
                self._requests.append(body)
        if embed:
            return await _send_json(send, 200, _embeddings(body))
        model = str(body.get("model", ""))
        if model == "fake-500":
            await _send_json(send, 500, _error("fake upstream exploded", "server_error"))
            return
        if model == "fake-401":
            key = auth.partition(" ")[2]
            await _send_json(send, 401, _error(f"Incorrect API key provided: {key}. You sent the header "
                                               f"'Authorization: {auth}' (also tried sk-proj-Abc123def456ghi789).",
                                               "invalid_request_error"))
            return
        if model == "fake-slow":
            await asyncio.sleep(SLOW_SECONDS)
        text, call = _answer_text(body), _tool_call(body)
        if model == "fake-judge":
            text, call = json.dumps({"grade": JUDGE_GRADE, "reason": "loopback judge"}), None
        elif model == "fake-judge-prose":
            text, call = f'Sure! {{"grade": {JUDGE_GRADE}}} is my grade.', None
        gate = self.gate if model == "fake-gate" else None
        if body.get("stream"):
            await _stream(send, body, model, text, call, gate)
        else:
            await _wait(gate)
            await _send_json(send, 200, _completion(model, text, call))


# ---- running it ------------------------------------------------------------------------------

class ServerThread:
    """An ASGI app served by uvicorn in a daemon thread on loopback; ``port=0`` picks a free one."""

    def __init__(self, app: Any, *, port: int = 0, lifespan: str = "auto", access_log: bool = True) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning",
                                                    lifespan=lifespan, access_log=access_log))
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    def start(self, timeout: float = 60.0) -> int:
        """Start serving; returns the port once the server accepts connections."""
        _quiet_stream_cuts()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self.port

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=timeout)


class LoopbackUpstream:
    """The upstream in this process, recording requests: ``with LoopbackUpstream() as up: ...``."""

    def __init__(self) -> None:
        self.app = LoopbackApp(record=True)
        self._server = ServerThread(self.app, lifespan="off", access_log=False)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self._server.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.app.requests

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("model") == model]

    def __enter__(self) -> LoopbackUpstream:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


def process_argv(port: int) -> list[str]:
    """The command that runs the upstream as its own process (run it from the repository root)."""
    return [sys.executable, "-m", "bench.loopback", "--port", str(port)]


@contextmanager
def loopback_process(timeout: float = 30.0) -> Iterator[str]:
    """Run the upstream as its own process on a free port; yields its base URL, then stops it."""
    port = free_port()
    proc = subprocess.Popen(process_argv(port), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"http://{HOST}:{port}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"loopback upstream did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield f"http://{HOST}:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="A fast OpenAI-compatible upstream on loopback.")
    ap.add_argument("--host", default=HOST)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    _quiet_stream_cuts()
    uvicorn.run(LoopbackApp(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
