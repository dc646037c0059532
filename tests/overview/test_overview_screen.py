"""The overview on screen: what it shows at 80x24 and 200x50, jumps, the status bar."""

from __future__ import annotations

from servedeck.widgets.status_bar import BackendStatusBar

from overview.static_fleet import make_app, settled


def test_overview_at_80x24(snap_compare):
    """Needs attention first (the down backend, XID, hot GPU, tunnel down, unhealthy worker),
    the status bar collapses the healthy backends into a count and names the down one."""
    app = make_app()

    async def ready(pilot):
        await settled(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


def test_overview_at_200x50(snap_compare):
    """Blocks reflow into three columns; the GPU strip has one line per host."""
    app = make_app()

    async def ready(pilot):
        await settled(app, pilot)

    assert snap_compare(app, terminal_size=(200, 50), run_before=ready)


def test_jobs_pane_at_80_columns_keeps_the_state(snap_compare):
    """The least important columns hide first: job id, name and state stay visible."""
    app = make_app("ui: {start_pane: jobs}\n")

    async def ready(pilot):
        await settled(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


async def test_attention_lists_every_fault_by_severity_and_enter_jumps_to_the_row():
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await settled(app, pilot)
        body = app._table("overview")
        rules = [i.rule for i in body.items]
        crit = {"backend_down", "gpu_xid", "gpu_hot", "worker_unhealthy", "tunnel_down", "job_failed"}
        assert set(rules[:6]) == crit and all(i.severity == "crit" for i in body.items[:6])
        assert set(rules[6:]) == {"instance_down"}  # the warning comes after every critical item
        xid = rules.index("gpu_xid")
        await pilot.press(*["down"] * xid, "enter")
        assert app.current_pane == "gpus"
        backend, row = app._table("gpus").selected()
        assert (backend, row.host, row.gpu) == ("prom", "gpu01", "5")


async def test_status_bar_names_every_problem_when_narrow_and_a_click_opens_backends():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        text = str(app.query_one(BackendStatusBar).render())
        assert "4 ok" in text and "login2" in text and "down" in text
        assert "prom" not in text  # healthy ones are counted, not named
        await pilot.click(BackendStatusBar)
        assert app.current_pane == "backends"


async def test_clicking_a_row_selects_it():
    app = make_app("ui: {start_pane: jobs}\n")
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(app, pilot)
        table = app._table("jobs")
        await pilot.click(table, offset=(3, 4))  # header line, then the fourth row
        assert table.selected()[1].job_id == "104"


async def test_the_joined_view_links_each_endpoint():
    app = make_app("ui: {start_pane: endpoints}\n")
    async with app.run_test(size=(200, 30)) as pilot:
        await settled(app, pilot)
        rows = {r.id: r for _, r in app._table("endpoints")._rows.values()}
        assert rows["127.0.0.1:31001"].links == "gpu xid" and rows["127.0.0.1:31001"].job_id == "101"
        broken = rows["127.0.0.1:31002"]
        assert (broken.job_id, broken.tunnel, broken.gpus.split(", ")[0]) == ("102", "gpu02-w", "gpu02/0")
        assert broken.links == "worker unhealthy, tunnel down, gpu hot, metrics down"
