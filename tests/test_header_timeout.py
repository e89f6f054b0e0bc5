"""A client that never finishes its request head (slowloris) is disconnected after
V0_HEADER_READ_TIMEOUT_S instead of holding a connection for ever; complete requests, kept-alive
connections included, are served as before (the gateway as a real process)."""

from __future__ import annotations

import socket

import httpx

from bench.faults.gateway_process import GatewayProcess
from gateway_support import wait_until


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_partial_heads_are_disconnected(tmp_path, upstream):
    gateway = GatewayProcess(tmp_path, f"sqlite:///{tmp_path / 'g.db'}", upstream.base_url,
                             V0_HEADER_READ_TIMEOUT_S="1").start()
    try:
        port = int(gateway.base_url.rsplit(":", 1)[1])
        socks = []
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            sock.setblocking(False)
            socks.append(sock)
        with httpx.Client(base_url=gateway.base_url) as client:  # one kept-alive connection, two requests
            assert [client.get("/healthz").status_code for _ in range(2)] == [200, 200]
        wait_until(lambda: all(closed(s) for s in socks), timeout=30)
        for sock in socks:
            sock.close()
    finally:
        gateway.stop()
