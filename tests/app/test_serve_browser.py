"""`servedeck serve` in a real headless Chromium (Debian's package), driven over the
DevTools protocol: the page loads, the overview is drawn (its frames arrive on the
page's websocket), a key press switches pane, and a wrong token is refused."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import re
import time

import aiohttp
import httpx
import pytest

from support import PORT_OFFSET

SERVE_PORT = 36010 + PORT_OFFSET
DEVTOOLS_PORT = 36011 + PORT_OFFSET
OPEN_PORT = 36012 + PORT_OFFSET
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def start(argv, env=None) -> subprocess.Popen:
    """Output goes to a file, not a pipe: nobody reads a pipe while the test runs, and
    Chromium's logging (refused connections on this closed network) could fill one and
    hang the browser before its DevTools port answers."""
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)
    log = proc.log  # type: ignore[attr-defined]
    log.seek(0)
    out = log.read()
    log.close()
    return out


class DevTools:
    """A minimal DevTools client: commands with ids, events collected as they come."""

    def __init__(self, ws):
        self.ws, self.next_id, self.events, self.replies = ws, 0, [], {}

    async def pump(self):
        async for message in self.ws:
            doc = json.loads(message.data)
            if "id" in doc:
                self.replies[doc["id"]] = doc
            else:
                self.events.append(doc)

    async def send(self, method: str, **params):
        self.next_id += 1
        ident = self.next_id
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        for _ in range(300):
            if ident in self.replies:
                return self.replies.pop(ident).get("result", {})
            await asyncio.sleep(0.05)
        raise AssertionError(f"no reply to {method}")

    def frames(self) -> str:
        """Everything the server sent on the page's websocket, as text."""
        out = []
        for e in self.events:
            if e.get("method") == "Network.webSocketFrameReceived":
                frame = e["params"]["response"]
                data = frame["payloadData"]
                out.append(base64.b64decode(data).decode("utf-8", "replace") if frame.get("opcode") == 2 else data)
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", "".join(out))  # the text, without SGR and cursor moves

    async def until(self, predicate, what: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{what}: never happened; got {self.frames()[-600:]!r}")


@pytest.fixture
def chromium(tmp_path):
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is not installed (scripts/setup.sh installs it)"
    proc = start([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                  f"--remote-debugging-port={DEVTOOLS_PORT}", "about:blank"])
    try:
        wait_http(f"http://127.0.0.1:{DEVTOOLS_PORT}/json/version")
        yield f"http://127.0.0.1:{DEVTOOLS_PORT}"
    finally:
        stop(proc)


@pytest.fixture
def served(tmp_path):
    config = tmp_path / "servedeck.yaml"
    config.write_text("{}\n")
    proc = start([sys.executable, "-m", "servedeck", "serve", "--port", str(SERVE_PORT), "--config", str(config)],
                 env={"SERVEDECK_SERVE_TOKEN": "s3cret-token", "SERVEDECK_STATE_DIR": str(tmp_path / "state")})
    try:
        wait_http(f"http://127.0.0.1:{SERVE_PORT}/")
        yield f"http://127.0.0.1:{SERVE_PORT}"
    finally:
        stop(proc)


async def test_the_cockpit_in_chromium_draws_the_overview_switches_pane_and_refuses_a_wrong_token(chromium, served):
    async with httpx.AsyncClient() as client:
        pages = (await client.get(f"{chromium}/json/list")).json()
    page = next(p for p in pages if p["type"] == "page")
    async with aiohttp.ClientSession() as session, session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
        tools = DevTools(ws)
        pump = asyncio.create_task(tools.pump())
        try:
            await tools.send("Network.enable")
            await tools.send("Page.enable")
            await tools.send("Page.navigate", url=f"{served}/?token=wrong")
            await tools.until(lambda: any(e.get("method") == "Page.loadEventFired" for e in tools.events), "wrong-token page")
            body = (await tools.send("Runtime.evaluate", expression="document.body.innerText"))["result"]["value"]
            statuses = [e["params"]["response"]["status"] for e in tools.events if e.get("method") == "Network.responseReceived"]
            assert "wrong token" in body and 403 in statuses
            assert not any(e.get("method") == "Network.webSocketCreated" for e in tools.events)

            tools.events.clear()
            await tools.send("Page.navigate", url=f"{served}/?token=s3cret-token")
            await tools.until(lambda: "Needs attention" in tools.frames(), "the overview drawn in the page")
            await tools.send("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
            for kind in ("keyDown", "keyUp"):
                await tools.send("Input.dispatchKeyEvent", type=kind, key="2", code="Digit2", text="2" if kind == "keyDown" else "",
                                 windowsVirtualKeyCode=50)
            await tools.until(lambda: "Backends · " in tools.frames(), "pane 2 (Backends) after pressing 2")
        finally:
            pump.cancel()


def test_binding_beyond_loopback_generates_a_token_and_says_so(tmp_path):
    proc = start([sys.executable, "-m", "servedeck", "serve", "--host", "0.0.0.0", "--port", str(OPEN_PORT)],
                 env={"SERVEDECK_SERVE_TOKEN": "", "SERVEDECK_STATE_DIR": str(tmp_path)})
    try:
        wait_http(f"http://127.0.0.1:{OPEN_PORT}/")
        asked = httpx.get(f"http://127.0.0.1:{OPEN_PORT}/", timeout=5)
        assert asked.status_code == 401 and "needs its access token" in asked.text
        assert httpx.get(f"http://127.0.0.1:{OPEN_PORT}/static/js/textual.js", timeout=5).status_code == 403
    finally:
        out = stop(proc)
    line = next(l for l in out.splitlines() if "not loopback" in l)
    token = line.split("token is ")[1].split()[0]
    assert len(token) >= 24
