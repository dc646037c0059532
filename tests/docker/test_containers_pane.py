"""The cockpit over the real Docker Engine: the containers pane goes live from events,
`l` opens the selected container's log in the logs pane, destructive keys ask first."""

from __future__ import annotations

import pytest

from servedeck.app.main_app import ServedeckApp
from servedeck.app.screens import ConfirmScreen
from servedeck.config import load_text
from shell_support import wait_for as shell_wait_for

pytestmark = pytest.mark.integration
SIZE = (160, 36)


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    """The shared helper, with the longer wait a real Docker Engine needs."""
    await shell_wait_for(pilot, predicate, timeout)


def make_app(lab, readonly: bool = False) -> ServedeckApp:
    config = (f"ui: {{start_pane: containers}}\nbackends:\n  docker:\n"
              f"    - {{name: lab-docker, url: '{lab.docker_url}', interval: 3600}}\n")
    return ServedeckApp(load_text(config, "test.yaml"), readonly=readonly)


def select(app, name: str) -> None:
    table = app._table("containers")
    for index, (key, (backend, row)) in enumerate(table._rows.items()):
        if row.name == name:
            table.move_cursor(row=table.get_row_index(key))
            return
    raise AssertionError(f"{name} not in the table")


def state_of(app, name: str) -> str | None:
    return next((row.state for _, row in app._table("containers")._rows.values() if row.name == name), None)


async def test_live_rows_logs_and_confirmed_stop(lab, run_container, docker_client):
    c = run_container("trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo pane-line-$i; sleep 0.2; done & wait")
    app = make_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: state_of(app, c.name) == "running")
        select(app, c.name)
        await pilot.press("l")
        await wait_for(pilot, lambda: app.current_pane == "logs")
        logs = app._table("logs")
        await wait_for(pilot, lambda: any(line.plain.startswith("pane-line-") for line in logs.view.lines))
        assert logs.title.startswith(f"container/{c.name}")
        await pilot.press(str(app.pane_keys.index("containers") + 1))  # back to the containers pane
        assert app.current_pane == "containers"
        select(app, c.name)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        # the poll interval is an hour: only the die/stop event can refresh the row
        await wait_for(pilot, lambda: state_of(app, c.name) == "exited")
        assert docker_client.containers.get(c.name).status == "exited"


async def test_readonly_refuses_remove_but_opens_logs(lab, run_container, docker_client):
    c = run_container("echo ro-line; sleep 600")
    app = make_app(lab, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: state_of(app, c.name) == "running")
        select(app, c.name)
        app.request_row_action("containers", "container.remove")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("read-only" in n.message for n in app._notifications)
        assert docker_client.containers.get(c.name).status == "running"
        await pilot.press("l")
        logs = app._table("logs")
        # the stream's first line (a status sentence such as "retrying" may stand before it)
        await wait_for(pilot, lambda: [line.plain for line in logs.view.lines if not line.status][:1] == ["ro-line"])
