"""The jobs pane body headless: sorting by a column and reversing it, keeping rows in
place when an update changes nothing, and the cursor surviving a re-sort."""

from __future__ import annotations

from dataclasses import replace

from textual.app import App, ComposeResult

from servedeck.backends.rows import JobRow
from servedeck.backends.slurm.backend import JOBS, SlurmBackend
from servedeck.widgets.panes.jobs import PANE_BODIES, sort_value


def job(job_id: str, name: str, elapsed: int | None) -> JobRow:
    return JobRow(cluster="c", job_id=job_id, name=name, user="u", state="RUNNING", partition="p", node="n",
                  elapsed_s=elapsed, time_left_s=None, reason="", gpus=1)


class Jobs(App):
    def compose(self) -> ComposeResult:
        yield PANE_BODIES["jobs"](JOBS, SlurmBackend.actions, id="jobs")


def order(table) -> list[str]:
    return [table._rows[row.key.value][1].job_id for row in table.ordered_rows]


def test_sort_value_orders_numbers_text_and_empties():
    values = ["b", None, 10, "A", "9_1", 2]
    assert sorted(values, key=sort_value) == [2, "9_1", 10, "A", "b", None]


async def test_jobs_pane_sorts_by_column_and_reverses():
    rows = [job("10", "b", 5), job("9", "c", None), job("100", "a", 50)]
    app = Jobs()
    async with app.run_test(size=(160, 20)) as pilot:
        table = app.query_one("#jobs")
        table.show([("c", r) for r in rows])
        await pilot.pause()
        assert order(table) == ["9", "10", "100"]  # job ids numerically, not as text
        table.focus()
        await pilot.press("s")  # next column after job_id: name
        assert table.sort_key == "name" and order(table) == ["100", "10", "9"]
        await pilot.press("S")
        assert order(table) == ["9", "10", "100"]
        table.sort_key, table.sort_reverse = "elapsed_s", False
        table.show([("c", r) for r in rows])
        assert order(table) == ["10", "100", "9"]  # unknown elapsed last
        table.show([("c", replace(rows[0], elapsed_s=500)), ("c", rows[1]), ("c", rows[2])])
        assert order(table) == ["100", "10", "9"]
