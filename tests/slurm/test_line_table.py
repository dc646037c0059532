"""The jobs pane's line table (widgets/line_table) headless: it draws what the DataTable
based tables draw, renders only rows on screen and only rows that changed, and keeps the
cursor on its row through updates, re-sorts and filters."""

from __future__ import annotations

from dataclasses import replace

import pytest

from servedeck.backends.rows import JobRow
from servedeck.backends.slurm.backend import JOBS, SlurmBackend
from servedeck.widgets.line_table import LineTable
from servedeck.widgets.panes.jobs import PANE_BODIES
from table_support import PaneBodyApp, drawn, sortable_body

SIZE = (160, 20)  # a header line and 19 rows on screen


def job(i: int, state: str = "RUNNING", elapsed: int | None = 60) -> JobRow:
    return JobRow(cluster="c", job_id=str(1000 + i), name=f"w{i:04d}", user="u", state=state, partition="p",
                  node=f"gpu{i % 7}", elapsed_s=elapsed, time_left_s=None, reason="", gpus=1)


def entries(rows) -> list[tuple[str, JobRow]]:
    return [("c", r) for r in rows]


def Jobs(factory=PANE_BODIES["jobs"]) -> PaneBodyApp:
    return PaneBodyApp(factory, JOBS, SlurmBackend.actions)


def job_ids(table) -> list[str]:
    return [table._rows[row.key.value][1].job_id for row in table.ordered_rows]


def selected_id(table) -> str:
    return table.selected()[1].job_id


def count_cells(table) -> dict[str, int]:
    """Patch `cell` to count the cells drawn per job id."""
    counts: dict[str, int] = {}
    original = table.cell

    def cell(column, row):
        counts[row.job_id] = counts.get(row.job_id, 0) + 1
        return original(column, row)

    table.cell = cell
    return counts


async def test_draws_the_same_lines_as_the_datatable_based_table():
    rows = [job(i, state=("RUNNING", "PENDING", "FAILED")[i % 3], elapsed=None if i == 2 else 60 * i)
            for i in range(30)]
    looks = []
    for factory in (sortable_body("job_id"), PANE_BODIES["jobs"]):
        app = Jobs(factory)
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one("#jobs")
            table.show(entries(rows))
            await pilot.pause()
            table.move_cursor(row=3)
            await pilot.pause()
            blurred = drawn(table)
            table.focus()
            await pilot.pause()
            looks.append((blurred, drawn(table)))
    (old_blurred, old_focused), (new_blurred, new_focused) = looks
    assert new_blurred == old_blurred  # header, zebra stripes, state colours, the cursor row
    assert new_focused == old_focused


async def test_only_rows_on_screen_are_drawn_and_an_update_redraws_only_changed_rows():
    rows = [job(i) for i in range(5000)]
    app = Jobs()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#jobs")
        counts = count_cells(table)
        table.show(entries(rows))
        await pilot.pause()
        assert table.shown_count == table.total_count == 5000
        assert set(counts) == {r.job_id for r in rows[:19]}  # the rows on screen, nothing else
        counts.clear()
        update = list(rows)
        update[4] = replace(rows[4], state="COMPLETING")  # on screen
        update[3000] = replace(rows[3000], state="FAILED")  # off screen
        table.show(entries(update))
        await pilot.pause()
        assert set(counts) == {"1004"}
        assert table._rows["c\x1f1004"][1].state == "COMPLETING"
        counts.clear()
        table.show(entries(update))  # nothing changed: nothing is drawn again
        await pilot.pause()
        assert counts == {}


async def test_the_cursor_stays_on_its_row_through_updates_resorts_and_filters():
    rows = [job(i, elapsed=(i * 37) % 101) for i in range(200)]
    app = Jobs()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#jobs")
        table.show(entries(rows))
        await pilot.pause()
        table.focus()
        await pilot.press(*["down"] * 5)
        assert selected_id(table) == "1005" and table.cursor_row == 5
        table.show(entries(rows[3:] + [job(500)]))  # rows above it left, one arrived
        assert selected_id(table) == "1005" and table.cursor_row == 2
        table.sort_key = "elapsed_s"
        table.show(entries(rows[3:] + [job(500)]))
        assert selected_id(table) == "1005"
        assert table.cursor_row == table.get_row_index("c\x1f1005")
        await pilot.press("S")  # reversed: the row moves, the cursor goes with it
        assert selected_id(table) == "1005" and table.sort_reverse
        elapsed = [table._rows[row.key.value][1].elapsed_s for row in table.ordered_rows]
        assert elapsed == sorted(elapsed, reverse=True)
        await pilot.pause()
        assert table.cursor_row in range(int(table.scroll_y), int(table.scroll_y) + 19)  # scrolled to it
        table.set_filter("w0005")
        assert table.shown_count == 1 and selected_id(table) == "1005"
        table.set_filter("")
        assert selected_id(table) == "1005" and table.shown_count == 198


async def test_sorting_orders_by_plain_values_and_ties_keep_their_arrival_order():
    rows = [job(3, elapsed=5), job(1, elapsed=None), job(2, elapsed=5), job(10, elapsed=1)]
    app = Jobs()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#jobs")
        table.show(entries(rows))
        assert job_ids(table) == ["1001", "1002", "1003", "1010"]  # job ids numerically
        table.sort_key = "elapsed_s"
        table.show(entries(rows))
        assert job_ids(table) == ["1010", "1003", "1002", "1001"]  # unknown last; 5s in arrival order
        table.sort_key = None
        table.show(entries(rows))
        assert job_ids(table) == ["1003", "1001", "1002", "1010"]  # no sort: as the backends gave them
        await pilot.pause()


async def test_the_filter_looks_at_the_cells_as_drawn_and_follows_updates():
    rows = [job(0, elapsed=300), job(1, state="PENDING", elapsed=None), job(2, elapsed=7200)]
    app = Jobs()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#jobs")
        table.show(entries(rows))
        table.set_filter("5m00")  # elapsed 300 s is drawn as 5m00s
        assert job_ids(table) == ["1000"] and table.total_count == 3
        table.set_filter("pending")
        assert job_ids(table) == ["1001"]
        table.show(entries([rows[0], replace(rows[1], state="RUNNING"), replace(rows[2], state="PENDING")]))
        assert job_ids(table) == ["1002"] and table.filter_text == "pending"
        table.set_filter("no such job")
        assert table.shown_count == 0 and table.selected() is None
        table.set_filter("")
        assert table.shown_count == 3
        await pilot.pause()


async def test_keys_move_the_cursor_and_post_the_row_actions():
    rows = [job(i) for i in range(100)]
    app = Jobs()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#jobs")
        table.show(entries(rows))
        await pilot.pause()
        table.focus()
        await pilot.press("pagedown")
        assert table.cursor_row == 19  # one screen of rows further
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert selected_id(table) == "1099"
        assert int(table.scroll_y) == 100 - 19  # the last row is on screen
        await pilot.press("pageup", "up")
        assert table.cursor_row == 99 - 19 - 1
        await pilot.press("ctrl+home")
        assert selected_id(table) == "1000"
        await pilot.press("i")  # job details: the pane's action key
        await pilot.pause()
        assert app.requested == [("jobs", "job.details")]


async def test_rows_on_screen_are_reported_when_they_change():
    rows = [job(i) for i in range(100)]
    app = Jobs()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#jobs")
        table.show(entries(rows))
        await pilot.pause()
        await pilot.pause()
        assert app.on_screen[-1] == frozenset(f"c\x1f{1000 + i}" for i in range(19))
        table.focus()
        await pilot.press("ctrl+end")
        await pilot.pause()
        await pilot.pause()
        assert app.on_screen[-1] == frozenset(f"c\x1f{1000 + i}" for i in range(81, 100))


async def test_a_click_selects_the_row_under_the_mouse():
    rows = [job(i) for i in range(10)]
    app = Jobs()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#jobs")
        table.show(entries(rows))
        await pilot.pause()
        await pilot.click(LineTable, offset=(3, 4))  # the header line, then the fourth row
        assert selected_id(table) == "1003"
        await pilot.click(LineTable, offset=(3, 0))  # the header selects nothing
        assert selected_id(table) == "1003"


async def test_columns_that_do_not_fit_hide_as_in_the_other_tables():
    app = Jobs()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one("#jobs")
        table.show(entries([job(1)]))
        await pilot.pause()
        header = "".join(s.text for s in table.render_line(0))
        assert header.split() == ["Job", "Name", "State", "Node", "Left"]


def test_the_filter_text_of_a_cell_is_the_text_render_cell_draws():
    from itertools import product

    from servedeck.widgets.cells import render_cell
    from servedeck.widgets.line_table import plain_text

    columns = ["name", "state", "elapsed_s", "gpus", "size_bytes", "seen_at", "latency_ms"]
    values = [None, "", "RUNNING", "a\x1b[31mb", "x\ny", 0, 5, 300, 1.5, True, False, ["a", 1], 2**70]
    for column, value in product(columns, values):
        assert plain_text(column, value) == str(render_cell(column, value)), (column, value)


async def test_datatable_readers_give_the_cells_as_drawn():
    """`get_row_at`, `get_row` and `get_cell` answer as DataTable's do, so code that reads
    a pane's cells (the fault matrix's pane text) reads the jobs pane too."""
    rows = [job(7), job(3, state="PENDING")]
    app = Jobs()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#jobs")
        table.show(entries(rows))
        await pilot.pause()
        first = [getattr(c, "plain", str(c)) for c in table.get_row_at(0)]
        assert "1003" in first and "w0003" in first  # sorted by job id: job 1003 first
        key = table.row_id("c", rows[0])
        assert "w0007" in [getattr(c, "plain", str(c)) for c in table.get_row(key)]
        assert str(table.get_cell(key, "name")) == "w0007"
        with pytest.raises(KeyError):
            table.get_row_at(2)


async def test_text_cells_draw_as_rich_draws_them_whatever_their_spans():
    """Text cells are drawn without Rich's per-cell Padding and render_lines; what they
    draw is the same: base styles, spans (touching, empty, overlapping), wide characters,
    texts wider than the column (cropped), right-justified text."""
    from rich.text import Span, Text

    texts = [
        Text("plain"), Text("styled", style="bold"), Text(""), Text("—", style="dim"),
        Text("ab cd", spans=[Span(0, 2, "red"), Span(2, 2, "blue"), Span(3, 5, "green")]),
        Text("base+spans", style="italic", spans=[Span(0, 4, "red"), Span(5, 10, "underline")]),
        Text("overlap", spans=[Span(0, 5, "red"), Span(2, 7, "bold")]),
        Text("日本語の名前", spans=[Span(0, 2, "red")]), Text("x" * 40, style="red"),
        Text("right", justify="right"),
    ]

    def cell(self, column, row):
        return texts[(int(row.job_id) + len(column)) % len(texts)].copy()

    looks = []
    for base in (sortable_body("job_id"), PANE_BODIES["jobs"]):
        def factory(spec, actions, id=None, base=base):
            table = base(spec, actions, id=id)
            table.cell = cell.__get__(table)
            return table

        app = Jobs(factory)
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one("#jobs")
            table.show(entries([job(i) for i in range(len(texts))]))
            await pilot.pause()
            looks.append(drawn(table))
    assert looks[1] == looks[0]
