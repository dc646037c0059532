"""The cockpit's compose pane over the real Engine and Compose CLI: a project row with
its services beneath, live health; `l` on the project opens its merged logs; `R` asks
first and restarts; read-only greys the destructive keys out and refuses them."""

from __future__ import annotations

import pytest

from servedeck.app.main_app import ServedeckApp
from servedeck.app.screens import ConfirmScreen
from servedeck.config import load_text
from shell_support import wait_for as shell_wait_for

pytestmark = pytest.mark.integration
SIZE = (180, 36)


async def wait_for(pilot, predicate, timeout: float = 40.0) -> None:
    await shell_wait_for(pilot, predicate, timeout)


def make_app(lab, readonly: bool = False) -> ServedeckApp:
    config = (f"ui: {{start_pane: compose}}\nbackends:\n  compose:\n"
              f"    - {{name: lab-compose, url: '{lab.docker_url}', interval: 1}}\n")
    return ServedeckApp(load_text(config, "test.yaml"), readonly=readonly)


def shown(app, project: str) -> dict:
    return {row.service: row for _, row in app._table("compose")._rows.values() if row.project == project}


def select(app, project: str, service: str = "") -> None:
    table = app._table("compose")
    for key, (_, row) in table._rows.items():
        if row.project == project and row.service == service:
            table.move_cursor(row=table.get_row_index(key))
            return
    raise AssertionError(f"{project}/{service} not shown")


async def test_project_rows_logs_and_confirmed_restart(lab, make_project):
    project = make_project()
    project.compose("up", "-d", "web", "bad")
    app = make_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: shown(app, project.name).get("bad") is not None
                       and shown(app, project.name)["bad"].health == "unhealthy")
        rows = shown(app, project.name)
        assert rows[""].state == "running 3/3" and rows[""].health == "unhealthy"
        table = app._table("compose")
        keys = [k for k, (_, r) in table._rows.items() if r.project == project.name]
        order = [table._rows[k][1].service for k in keys]
        assert order[0] == "" and order.index("db") < order.index("web")
        key = keys[order.index("db")]
        cells = dict(zip((c.key for c in table._shown_columns), table.get_row(key)))  # as drawn
        assert str(cells["project"]) == ""  # the project name is shown once, on its own row
        assert "db" in str(cells["service"])

        select(app, project.name)
        await pilot.press("l")
        await wait_for(pilot, lambda: app.current_pane == "logs")
        logs = app._table("logs")
        await wait_for(pilot, lambda: any("| web-line-" in line.plain for line in logs.view.lines)
                       and any("| bad-line-" in line.plain for line in logs.view.lines))
        assert logs.title.startswith(f"compose/{project.name}")

        app.show_pane("compose")
        await pilot.pause()
        before = shown(app, project.name)["web"].started_at
        select(app, project.name, "web")
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: (shown(app, project.name)["web"].started_at or 0) > (before or 0))


async def test_readonly_refuses_down(lab, make_project):
    project = make_project()
    project.compose("up", "-d", "once", "db")
    app = make_app(lab, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "db" in shown(app, project.name))
        select(app, project.name)
        app.request_row_action("compose", "compose.down")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("read-only" in str(n.message) for n in app._notifications)
        assert app.action_allowed("compose", "compose.down", None) is None  # greyed out
        assert app.action_allowed("compose", "compose.logs", None) is True
    assert project.compose("ps", "-q", "db").stdout.strip()  # still there
