"""Snapshot tests: what the main screen looks like at a fixed size.

Update deliberately with `pytest --snapshot-update`; on failure the report
(snapshot_report.html) shows the difference.
"""

from __future__ import annotations

from shell_support import make_app, wait_for

SIZE = (120, 24)


def test_main_screen_containers_pane(snap_compare):
    """The status bar names the backend (ok), the containers pane lists both rows with
    their state coloured, the footer shows the pane's action keys and the global ones."""
    app, _ = make_app("ui: {start_pane: containers}\n", rows=("web-1", "worker-2"))

    async def ready(pilot):
        await wait_for(pilot, lambda: app._table("containers").row_count == 2)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_main_screen_readonly_and_down(snap_compare):
    """Read-only badge in the status bar; the down backend shows how long it has been
    down and its pane says it shows the last data; the stop key is greyed out."""
    app, backend = make_app(
        "ui: {start_pane: containers}\n", readonly=True, interval=3600, clock=lambda: 1_700_000_000.0
    )

    async def down(pilot):
        await wait_for(pilot, lambda: app._table("containers").row_count == 2)
        backend.down = True
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "showing last data" in str(app.query_one("#pane-containers .pane-header").render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=down)
