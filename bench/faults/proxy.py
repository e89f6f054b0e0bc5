"""A loopback TCP proxy that can pass, refuse or black-hole traffic (asyncio, own thread).

Modes: ``pass`` forwards both ways; ``refuse`` closes every open connection and refuses new
ones (a database that is down); ``blackhole`` keeps connections open and accepts new ones
but forwards nothing and answers nothing (a network partition: the kernel still acknowledges
bytes, so only a client-side deadline notices). Going back to ``pass`` after a black hole
drops the connections that were held (their protocol state is unknown), like a partition that
outlived the peers' timeouts.

Used by the fault tests and by ``bench/faults``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

from bench.loopback import free_port

Mode = Literal["pass", "refuse", "blackhole"]


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.mode: Mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *_: object) -> None:
        self._call(self._close_all(listen=False))
        self._call(self._cancel_clients())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def set_mode(self, mode: Mode) -> None:
        """Switch mode; returns once the switch is in effect."""
        self._call(self._switch(mode))

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    async def _switch(self, mode: Mode) -> None:
        old, self.mode = self.mode, mode
        if mode == "refuse":
            await self._close_all(listen=False)
        elif old == "blackhole" and mode == "pass":
            await self._close_all(listen=True)
        elif self._server is None:
            await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)

    async def _close_all(self, *, listen: bool) -> None:
        if self._server is not None and not listen:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        if listen and self._server is None:
            await self._listen()

    async def _cancel_clients(self) -> None:
        """End every connection's task before the loop stops (none is left pending)."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode == "blackhole":
            return  # held open, never answered (closed when the mode changes)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                while self.mode == "blackhole":  # hold the bytes: nothing gets through
                    await asyncio.sleep(0.05)
                    if writer.transport.is_closing():
                        return
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
