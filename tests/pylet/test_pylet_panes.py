"""The Pylet panes in the cockpit (Pilot), fed by the lab's real Pylet head."""

from __future__ import annotations

import pytest

from servedeck.app.main_app import ServedeckApp
from servedeck.config import load_config
from serverless_support import submit, url_of
from shell_support import wait_for

pytestmark = pytest.mark.integration


def _rows(app, pane):
    return [row for _, row in app._table(pane)._rows.values()]


async def test_instance_row_links_to_its_worker_and_its_logs(stack):
    pylet = url_of(stack, "pylet-head")
    iid = submit(pylet, "echo pane-test-output; sleep 120", name="pane-test")
    app = ServedeckApp(load_config(str(stack.config_path)))
    async with app.run_test(size=(160, 40)) as pilot:
        app.show_pane("pylet_instances")
        await wait_for(pilot, lambda: any(r.id == iid and r.status == "RUNNING" for r in _rows(app, "pylet_instances")),
                       timeout=30)
        table = app._table("pylet_instances")
        row = next(r for r in _rows(app, "pylet_instances") if r.id == iid)
        table.move_cursor(row=table.get_row_index(f"lab-pylet\x1f{iid}"))
        await pilot.press("w")
        await wait_for(pilot, lambda: app.current_pane == "pylet_workers", timeout=10)
        workers = app._table("pylet_workers")
        await wait_for(pilot, lambda: workers.selected() is not None and workers.selected()[1].id == row.worker,
                       timeout=10)
        assert workers.selected()[1].status == "ONLINE"

        app.show_pane("pylet_instances")
        table.move_cursor(row=table.get_row_index(f"lab-pylet\x1f{iid}"))
        await pilot.press("m")  # a plain Pylet instance serves no model: said, nothing moves
        await pilot.pause(0.5)
        assert app.current_pane == "pylet_instances"

        await pilot.press("l")
        await wait_for(pilot, lambda: app.current_pane == "logs", timeout=10)
        logs = app._table("logs")
        await wait_for(pilot, lambda: any("pane-test-output" in line.plain for line in logs.view.lines), timeout=15)

        app.show_pane("pylet_instances")
        table.move_cursor(row=table.get_row_index(f"lab-pylet\x1f{iid}"))
        await pilot.press("c")
        await pilot.press("y")
        await wait_for(pilot, lambda: any(r.id == iid and r.status == "CANCELLED" for r in _rows(app, "pylet_instances")),
                       timeout=20)
