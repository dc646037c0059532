"""Ages in the default pane table (the line table) move with the clock: each second only
the rows whose age reads differently are drawn again, and an age that outgrows its
column widens it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from servedeck.backends.base import Column, PaneSpec
from servedeck.widgets import cells
from servedeck.widgets.line_table import line_body
from table_support import PaneBodyApp

SPEC = PaneSpec(key="things", title="Things", columns=(Column("name", "Name"), Column("since_at", "Since")),
                row_key="name")
NOW = 1_800_000_000.0


@dataclass(frozen=True)
class Thing:
    name: str
    since_at: float


class Clock:
    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The clock the cells' ages read."""
    clock = Clock(NOW)
    monkeypatch.setattr(cells, "time", clock)
    return clock


def line_text(table, y: int) -> str:
    return "".join(segment.text for segment in table.render_line(y))


async def test_only_rows_whose_age_reads_differently_are_drawn_again(clock):
    app = PaneBodyApp(line_body, SPEC, ())
    async with app.run_test(size=(60, 6)) as pilot:
        table = app.query_one("#things")
        table.show([("b", Thing("young", NOW - 5)), ("b", Thing("old", NOW - 7200))])
        await pilot.pause()
        assert "5s ago" in line_text(table, 1) and "2h00m ago" in line_text(table, 2)
        redrawn: list[int] = []
        original = table.refresh_line
        table.refresh_line = lambda y: (redrawn.append(y), original(y))[1]

        clock.now += 1
        table.refresh_relative()
        assert redrawn == [1]  # "2h00m ago" reads the same for another minute
        assert "6s ago" in line_text(table, 1) and "2h00m ago" in line_text(table, 2)

        clock.now += 60
        table.refresh_relative()
        assert "1m06s ago" in line_text(table, 1) and "2h01m ago" in line_text(table, 2)


async def test_an_age_that_outgrows_its_column_widens_it(clock):
    app = PaneBodyApp(line_body, SPEC, ())
    async with app.run_test(size=(60, 4)) as pilot:
        table = app.query_one("#things")
        table.show([("b", Thing("a", NOW - 9))])
        await pilot.pause()
        assert "9s ago" in line_text(table, 1)
        clock.now += 1
        table.refresh_relative()
        await pilot.pause()
        assert "10s ago" in line_text(table, 1)
        assert "Since" in line_text(table, 0)
