"""The GPU pane's body headless: it draws what the DataTable-based table drew (bars,
sparklines, the host on its first GPU only, zebra stripes, the cursor), an update draws
cells only for the rows on screen, and the host grouping follows rows that come and go."""

from __future__ import annotations

from dataclasses import replace
from typing import Any


from servedeck.backends.metrics.build import build_gpus
from servedeck.backends.metrics.model import GpuRow, sort_gpus
from servedeck.backends.metrics.panes import GPUS, PLOT_ACTIONS, GaugeSettings, Threshold
from servedeck.backends.metrics.scrape import parse_page
from servedeck.lab.standin_dcgm import GpuFleet
from servedeck.widgets.panes.gpus import PANE_BODIES, gpu_cell
from servedeck.widgets.resource_table import ResourceTable, table_class_for
from table_support import PaneBodyApp, drawn

SIZE = (190, 20)  # a header line and 19 rows on screen; every column fits
STYLE = GaugeSettings(name="g", gpu_thresholds={"util": Threshold(warn=50, crit=90)}).gpu_style()


def gpus(hosts: int, per_host: int = 8, step: int = 0) -> list[GpuRow]:
    rows = []
    for h in range(hosts):
        fleet = GpuFleet(per_host, f"node-{h:02d}", [], idle_util=(h * 37 + step * 11) % 100)
        fleet.step()
        rows += build_gpus(parse_page(fleet.render(), f"node-{h:02d}:9400", 0.0).samples, style=STYLE)
    return [replace(r, history=tuple(float((i * 13 + step + k) % 100) for i in range(30)), stale=k % 9 == 4)
            for k, r in enumerate(rows)]


def entries(rows) -> list[tuple[str, GpuRow]]:
    return [("g", r) for r in rows]


class DataTableGpus(ResourceTable):
    """The pane as it was drawn through Textual's DataTable: the reference look."""

    group_columns = frozenset({"host"})

    def order(self, entries: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        index = {id(r): i for i, r in enumerate(sort_gpus([row for _, row in entries]))}
        return sorted(entries, key=lambda e: index[id(e[1])])

    def group(self, row: GpuRow) -> Any:
        return row.host

    def cell(self, column: str, row: Any) -> Any:
        return gpu_cell(column, row)


def datatable_body(spec, actions, **kwargs):
    base = table_class_for(spec, actions)
    return type("RefTable", (DataTableGpus,), {"BINDINGS": base.BINDINGS})(spec, **kwargs)


def Gpus(factory=PANE_BODIES["gpus"]) -> PaneBodyApp:
    return PaneBodyApp(factory, GPUS, [a for a in PLOT_ACTIONS if a.pane == "gpus"])  # as the app passes them


def hosts_shown(table) -> list[str]:
    column = [c.key for c in table._shown_columns].index("host")
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def test_draws_the_same_lines_as_the_datatable_based_table():
    rows = gpus(3, per_host=4)
    rows[5] = replace(rows[5], util_percent=None, mem_used_mib=None, state="down", age_s=75.0)  # n/a, down
    rows[6] = replace(rows[6], xid_errors=3.0, used_by="job 4711")  # XID in red
    arrived = rows[::-1]  # the pane orders them by host, then GPU
    looks = []
    for factory in (datatable_body, PANE_BODIES["gpus"]):
        app = Gpus(factory)
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one("#gpus")
            table.show(entries(arrived))
            await pilot.pause()
            table.move_cursor(row=4)
            await pilot.pause()
            blurred = drawn(table)
            table.focus()
            await pilot.pause()
            looks.append((blurred, drawn(table), hosts_shown(table)))
    (old_blurred, old_focused, old_hosts), (new_blurred, new_focused, new_hosts) = looks
    assert new_hosts == old_hosts == ["node-00", "", "", "", "node-01", "", "", "", "node-02", "", "", ""]
    assert new_blurred == old_blurred
    assert new_focused == old_focused


async def test_text_in_cells_is_shown_as_it_is_never_read_as_markup():
    rows = [replace(gpus(1, per_host=1)[0], used_by="job [bold]x[/]")]
    app = Gpus()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#gpus")
        table.show(entries(rows))
        await pilot.pause()
        assert "job [bold]x[/]" in "".join(s.text for s in table.render_line(1))


async def test_an_update_of_256_gpus_draws_only_the_rows_on_screen():
    app = Gpus()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#gpus")
        drawn_ids: list[str] = []
        original = table.cell
        table.cell = lambda column, row: drawn_ids.append(row.id) or original(column, row)
        table.show(entries(gpus(32)))
        await pilot.pause()
        on_screen = [table._rows[k][1].id for k in table._order[:19]]
        assert table.row_count == 256 and set(drawn_ids) == set(on_screen)
        drawn_ids.clear()
        table.show(entries(gpus(32, step=1)))  # every value moved
        await pilot.pause()
        assert set(drawn_ids) == set(on_screen)
        assert "node-00" in "".join(s.text for s in table.render_line(1))


async def test_the_host_shows_on_the_first_gpu_of_each_host_as_rows_come_and_go():
    rows = gpus(2, per_host=3)
    app = Gpus()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#gpus")
        table.show(entries(rows))
        await pilot.pause()
        assert hosts_shown(table) == ["node-00", "", "", "node-01", "", ""]
        table.show(entries(rows[1:]))  # node-00's GPU 0 went: GPU 1 shows the host now
        await pilot.pause()
        assert hosts_shown(table) == ["node-00", "", "node-01", "", ""]
        assert "node-00" in "".join(s.text for s in table.render_line(1))
        table.set_filter("node-01")
        assert hosts_shown(table) == ["node-01", "", ""]


async def test_keys_move_the_cursor_and_scroll_and_the_plot_key_is_the_pane_action():
    app = Gpus()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#gpus")
        table.show(entries(gpus(32)))
        await pilot.pause()
        table.focus()
        await pilot.press("down", "down", "pagedown")
        assert table.cursor_row == 2 + 19
        await pilot.press("ctrl+end")
        await pilot.pause()
        backend, row = table.selected()
        assert (row.host, row.gpu) == ("node-31", "7") and int(table.scroll_y) == 256 - 19
        table.show(entries(gpus(32, step=1)))  # an update keeps the cursor on its GPU
        assert table.selected()[1].id == row.id
        await pilot.press("g")  # plot: the pane's action key
        await pilot.pause()
        assert app.requested == [("gpus", "gpu.plot")]
