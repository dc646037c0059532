"""Values from the environment that authenticate never appear in any output: not in
`status --json`, not in `servedeck workers` (table, JSON, errors), not in the log, even
when a router's error body echoes the header the request carried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from servedeck import secrets

TOKEN = "sdfaults-Zq8vT3kP0wXy"  # what the router's auth header carries


class EchoingRouter(BaseHTTPRequestHandler):
    """A router (or the proxy in front of one) whose errors quote the request headers."""

    def _echo(self) -> None:
        if self.path == "/health":
            body, status = b"OK", 200
        else:
            body = json.dumps({"error": f"refused Authorization: {self.headers.get('Authorization')}"}).encode()
            status = 500
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _echo

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echoing_router() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingRouter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    # The variable's name says nothing secret: it is a secret because auth_header_env names it.
    env = {**os.environ, "HOME": str(tmp_path), "SDFAULTS_ROUTER_HEADER": f"Bearer {TOKEN}"}
    return subprocess.run([sys.executable, "-m", "servedeck", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_router_token_echoed_in_error_bodies_is_masked_everywhere(tmp_path, echoing_router):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"backends:\n  router:\n    - name: r\n      url: {echoing_router}\n      api: workers\n"
                   "      auth_header_env: SDFAULTS_ROUTER_HEADER\n")
    outputs = {}
    for verb in (["status", "--json"], ["workers"], ["workers", "--json"], ["worker", "add", "http://127.0.0.1:9"]):
        done = run(tmp_path, *verb, "--config", str(cfg))
        outputs[" ".join(verb)] = done.stdout + done.stderr
    status = json.loads(run(tmp_path, "status", "--json", "--config", str(cfg)).stdout)
    error = status["backends"][0]["error"]
    assert "HTTP 500" in error and secrets.MASK in error  # the body was copied, the token masked
    log = (tmp_path / ".local/state/servedeck/servedeck.log").read_text()
    for name, text in {**outputs, "log": log}.items():
        assert TOKEN not in text, f"{name} shows the token: {text[:800]}"
    assert secrets.MASK in outputs["workers"]


def test_credentials_in_the_environment_are_registered_by_name(monkeypatch):
    monkeypatch.setenv("SDFAULTS_API_TOKEN", "tok-9f8e7d6c5b")
    monkeypatch.setenv("SDFAULTS_DB_PASSWORD", "pw-1a2b3c4d")
    monkeypatch.setenv("SDFAULTS_COLOUR", "value-not-secret")
    secrets.register_environment()
    text = secrets.redact("tok-9f8e7d6c5b pw-1a2b3c4d value-not-secret")
    assert text == f"{secrets.MASK} {secrets.MASK} value-not-secret"
