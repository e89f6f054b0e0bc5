"""Load for one cell of an overhead run: one target, JSON or streaming, at one concurrency.
Latency, time to first token, requests per second and the answering models, in a ``Cell``."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
import numpy as np

BODY = {"messages": [{"role": "user", "content": "Write one sentence about routers."}], "max_tokens": 16}
# The API surface a cell loads: its path, its body (without model) and its stream's last event.
SURFACES = {
    "chat": ("/chat/completions", BODY, "[DONE]"),
    "responses": ("/responses", {"input": "Write one sentence about routers.", "max_output_tokens": 16},
                  "response.completed"),
    "messages": ("/messages", BODY, "message_stop"),
}


@dataclass
class Cell:
    target: str
    stream: bool
    concurrency: int
    n: int = 0
    errors: int = 0
    wall_s: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    ttft_p99_ms: float | None = None
    overhead_p50_ms: float | None = None
    overhead_p99_ms: float | None = None
    cpu_ms_per_request: float | None = None  # the server's CPU time (all threads) per request, warm-up included
    models_answered: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None


def _text_delta(chunk: dict) -> bool:
    """Whether a stream event (chat chunk, Responses or Messages event) carries answer text."""
    if chunk.get("type") == "response.output_text.delta" or (chunk.get("delta") or {}).get("type") == "text_delta":
        return True
    return any((c.get("delta") or {}).get("content") for c in chunk.get("choices", []))


async def one(client: httpx.AsyncClient, url: str, body: dict, stream: bool,
              last: str = "[DONE]") -> tuple[float, float | None, str | None]:
    """(latency s, ttft s or None, answering model from x-v0-model or the body); a stream ends at
    the event ``last`` (chat: ``[DONE]``)."""
    t0 = time.perf_counter()
    if not stream:
        r = await client.post(url, json=body)
        r.raise_for_status()
        data = r.json()
        return time.perf_counter() - t0, None, r.headers.get("x-v0-model") or data.get("model")
    ttft = None
    async with client.stream("POST", url, json={**body, "stream": True}) as r:
        r.raise_for_status()
        model = r.headers.get("x-v0-model")
        done = False
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]" and last == "[DONE]":
                done = True
                break
            if ttft is not None and last == "[DONE]":
                continue  # chat: nothing more to read before [DONE]
            chunk = json.loads(payload)
            if "error" in chunk or chunk.get("type") == "error":
                raise RuntimeError(f"error event: {chunk.get('error')}")
            if chunk.get("type") == last:
                done = True
                break
            if ttft is None and _text_delta(chunk):
                ttft = time.perf_counter() - t0
                model = model or chunk.get("model")
        if not done:
            raise RuntimeError("stream ended without [DONE]")
    return time.perf_counter() - t0, ttft, model


async def run_cell(target: str, base: str, model: str, stream: bool, concurrency: int, n: int, warmup: int,
                   max_s: float, key: str, surface: str = "chat") -> Cell:
    """``warmup`` unmeasured requests, then at most ``n`` requests (or ``max_s`` seconds) from
    ``concurrency`` workers against ``base`` + the surface's path, with ``key`` as the bearer."""
    path, template, last = SURFACES[surface]
    url = base.rstrip("/") + path
    body = {**template, "model": model}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    cell = Cell(target, stream, concurrency)
    lat: list[float] = []
    ttft: list[float] = []
    async with httpx.AsyncClient(timeout=60.0, limits=limits, headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(warmup):
            try:
                await one(client, url, body, stream, last)
            except Exception as exc:
                cell.first_error = cell.first_error or f"warmup: {type(exc).__name__}: {exc}"
        issued = 0
        t0 = time.perf_counter()
        deadline = t0 + max_s

        async def worker() -> None:
            nonlocal issued
            while issued < n and time.perf_counter() < deadline:
                issued += 1
                try:
                    latency, first, answered = await one(client, url, body, stream, last)
                    lat.append(latency)
                    if first is not None:
                        ttft.append(first)
                    cell.models_answered[str(answered)] = cell.models_answered.get(str(answered), 0) + 1
                except Exception as exc:
                    cell.errors += 1
                    cell.first_error = cell.first_error or f"{type(exc).__name__}: {exc}"

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cell.wall_s = time.perf_counter() - t0
    cell.n = len(lat)
    cell.rps = cell.n / cell.wall_s if cell.wall_s > 0 else 0.0
    if lat:
        cell.p50_ms, cell.p95_ms, cell.p99_ms = (float(x) * 1000 for x in np.percentile(lat, [50, 95, 99]))
    if ttft:
        cell.ttft_p50_ms, cell.ttft_p95_ms, cell.ttft_p99_ms = (float(x) * 1000 for x in np.percentile(ttft, [50, 95, 99]))
    return cell
