"""A tunnel that crosses hosts: servedeck's -L forward through the namespace host's sshd
to a stand-in SGLang worker listening only on the namespace's own loopback; the Tunnels
backend counts the bytes each way and the connections exactly."""

from __future__ import annotations

import json
import socket

import pytest

from farhost import WORKER_PORT
from servedeck.backends.base import BackendContext
from servedeck.backends.ssh.backend import TunnelConfig, TunnelsBackend, TunnelsSettings
from ssh_support import until
from support import PORT_OFFSET

pytestmark = pytest.mark.integration
PORT = 34300 + 2 * PORT_OFFSET  # this test's own local port


def tunnels(pool, port: int = PORT) -> TunnelsBackend:
    config = TunnelConfig(name="far-worker", ssh="far", remote=f"127.0.0.1:{WORKER_PORT}", local_port=port)
    return TunnelsBackend(TunnelsSettings(name="far-tunnels", tunnels=[config]), BackendContext(extras={"ssh": pool}))


def http_get(port: int, path: str) -> tuple[bytes, bytes]:
    """(request, whole response) over one connection, as sent and received here."""
    request = f"GET {path} HTTP/1.1\r\nHost: far\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return request, b"".join(chunks)


def row(backend: TunnelsBackend):
    return backend.poll(frozenset({"tunnels"}))["tunnels"][0]


def test_a_forward_to_a_service_only_the_far_host_can_reach(far, far_pool):
    b = tunnels(far_pool)
    try:
        b.open("far-worker").wait_up(20)
        assert row(b).state == "up" and row(b).error == ""
        sent, received = 0, 0
        for path in ("/health", "/v1/models"):
            request, response = http_get(PORT, path)
            assert response.startswith(b"HTTP/1.") and b" 200 " in response.split(b"\r\n")[0]
            sent, received = sent + len(request), received + len(response)
        models = json.loads(response.split(b"\r\n\r\n", 1)[1])
        assert [m["id"] for m in models["data"]] == ["far-model"]  # the namespace's own worker

        def settled():
            """both connections closed and counted"""
            r = row(b)
            return r if r.connections == 0 and r.bytes_out == sent and r.bytes_in == received else None
        r = until(settled)
        assert r.remote == f"127.0.0.1:{WORKER_PORT}" and r.ssh == "far"
    finally:
        b.close()
