"""One scoring thread that takes every request waiting for scores as one batch.

Requests that arrive while a batch is being scored queue up; the thread then takes all of them
(at most ``max_batch``) at once, so under load a prompt's share of the per-call work (tokenizer,
adapter, one head pass per candidate set, the thread hand-offs) is spread over the batch, and at
low load a request never waits for batch-mates: there is no collection window. Only one thread
runs V0's Python code, so scoring no longer competes with itself for the interpreter lock that
the event loop needs too.

``submit(item)`` returns a :class:`concurrent.futures.Future`; a future cancelled before its
batch starts (its request gave up waiting, see ``router/scoring/guard.py``) is skipped. The batch
function returns one result or exception per item; if it raises, every item of the batch gets
that exception.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class ScoreBatcher(Generic[T, R]):
    def __init__(self, run_batch: Callable[[Sequence[T]], Sequence[R | Exception]], *, max_batch: int = 32,
                 on_batch: Callable[[int], Any] | None = None, name: str = "v0-score-batch") -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch, self._max, self._on_batch = run_batch, max_batch, on_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> Future[R]:
        if self._closed:
            raise RuntimeError("the scoring batcher is closed")
        future: Future[R] = Future()
        self._queue.put((item, future))
        return future

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop taking work: requests already queued are scored for up to ``timeout_s``, those
        still queued then are cancelled (their requests go to the fallback)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is not _STOP:
                entry[1].cancel()
        self._queue.put(_STOP)  # for a thread still in its batch

    def _loop(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is _STOP:
                return
            batch, stop = [entry], False
            while len(batch) < self._max:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is _STOP:
                    stop = True
                    break
                batch.append(entry)
            live = [(item, f) for item, f in batch if f.set_running_or_notify_cancel()]
            if live:
                self._run(live)
            if stop:
                return

    def _run(self, live: list[tuple[T, Future[R]]]) -> None:
        if self._on_batch is not None:
            self._on_batch(len(live))
        try:
            results = list(self._run_batch([item for item, _ in live]))
            if len(results) != len(live):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(live)} items")
        except Exception as exc:  # every request of the batch gets it (the guard decides what it means)
            results = [exc] * len(live)
        for (_, future), result in zip(live, results):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
