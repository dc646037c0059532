"""The pieces of the fault story that need no lab: a sick router is not ok whether its
pane is shown or not, quitting never waits for a hung poll, and `status` exit codes."""

from __future__ import annotations

import threading

import httpx
import pytest

from servedeck.backends.base import Backend, Column, Health, PaneSpec
from servedeck.backends.router.backend import RouterBackend, RouterSettings
from servedeck.backends.runner import BackendRunner
from servedeck.cli import status_exit_code
from servedeck.verbs.common import EXIT_DEGRADED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE


def sick_router(status: int) -> RouterBackend:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(status, json={"error": "worker pool empty"})
        return httpx.Response(200, json={"workers": [], "total": 0, "stats": {}})
    return RouterBackend(RouterSettings(name="r", url="http://router.test"), transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("status", [400, 500, 503])
@pytest.mark.parametrize("wanted", [frozenset(), frozenset({"workers"})], ids=["hidden", "shown"])
def test_router_whose_health_fails_is_not_ok(status, wanted):
    snap = BackendRunner(sick_router(status)).poll_once(wanted)
    assert snap.state.health is Health.DEGRADED, snap.state
    assert f"/health answered HTTP {status}" in snap.state.message and "worker pool empty" in snap.state.message
    if wanted:
        assert snap.panes["workers"] == ()  # the list it served is still shown


def test_router_whose_health_is_fine_is_ok_hidden_and_shown():
    for wanted in (frozenset(), frozenset({"workers"})):
        assert BackendRunner(sick_router(200)).poll_once(wanted).state.health is Health.OK


class Hanging(Backend):
    """A backend whose poll blocks until released (a dead NFS mount, a wedged SDK)."""

    kind = "hanging"
    panes = (PaneSpec("hung", "Hung", (Column("id", "ID"),), order=5),)

    def __init__(self, settings, context=None):
        super().__init__(settings, context)
        self.entered, self.release = threading.Event(), threading.Event()

    def poll(self, wanted):
        self.entered.set()
        self.release.wait(60)
        return {}


HUNG_COCKPIT = """
import sys
sys.path.insert(0, {tests!r})
from test_fault_units import Hanging
from servedeck.app.main_app import ServedeckApp
from servedeck.backends.base import BackendSettings
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text

backend = Hanging(BackendSettings(name="stuck"))
app = ServedeckApp(load_text("{{}}\\n", "t.yaml"), fleet=Fleet([BackendRunner(backend)]))

async def press_q(pilot):
    while not backend.entered.is_set():
        await pilot.pause(0.05)
    print("poll hung", flush=True)
    await pilot.press("q")

app.run(headless=True, auto_pilot=press_q)
print("quit while the poll hangs:", not backend.release.is_set(), flush=True)
"""


def test_the_cockpit_process_exits_while_a_poll_hangs(tmp_path):
    """The whole process, not just the app: Python joins executor threads at exit, so a
    poll run by a Textual thread worker would hold the exit for as long as it hangs (60 s
    here; the bound below is a hang detector, not a speed figure)."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "hung.py"
    script.write_text(HUNG_COCKPIT.format(tests=str(Path(__file__).parent)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=40)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "poll hung" in done.stdout and "quit while the poll hangs: True" in done.stdout


@pytest.mark.parametrize("states, code", [
    (["ok", "ok"], EXIT_OK),
    (["ok", "degraded"], EXIT_DEGRADED),
    (["ok", "unknown"], EXIT_DEGRADED),
    (["degraded", "down"], EXIT_UNREACHABLE),
    (["down"], EXIT_UNREACHABLE),
])
def test_status_exit_code_is_the_worst_state(states, code):
    assert status_exit_code(states) == code


def test_exit_codes_are_distinct():
    assert len({EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_DEGRADED}) == 4
