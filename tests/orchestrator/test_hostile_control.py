"""The control socket and the state file given hostile bytes: a one-line refusal, and the
service keeps answering (issue 15, part 3)."""

from __future__ import annotations

import json
import socket

import pytest

from servedeck.orchestrator.control import ControlServer, request
from servedeck.orchestrator.state import StateError, StateStore


@pytest.fixture
def server(tmp_path):
    srv = ControlServer(tmp_path / "c.sock", lambda req: {"ok": True, "message": "pong", "echo": req.get("cmd")})
    srv.start()
    yield srv
    srv.stop()


def _exchange(path, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(payload)
        return json.loads(sock.makefile("rb").readline())


def test_deeply_nested_request_is_refused_and_the_server_keeps_serving(server):
    reply = _exchange(server.path, b"[" * 60_000 + b"\n")
    assert reply["ok"] is False and "nests deeper than" in reply["message"]
    assert request(server.path, {"cmd": "status"})["echo"] == "status"


def test_a_request_line_without_end_is_cut_at_the_limit(server):
    reply = _exchange(server.path, b"x" * 100_000)
    assert reply == {"ok": False, "message": "request too long"}
    assert request(server.path, {"cmd": "status"})["ok"] is True


@pytest.mark.parametrize("text", ["[" * 100_000, '{"version": 1, "deployments": []}', "[1, 2]", '{"a": NaN}',
                                  '{"version": 1, "deployments": {"d": 3}}'])
def test_a_corrupt_state_file_is_one_state_error(tmp_path, text):
    path = tmp_path / "state.json"
    path.write_text(text)
    try:
        StateStore(path).load()
    except StateError as exc:
        assert "\n" not in str(exc)
