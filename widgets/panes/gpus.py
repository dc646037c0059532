"""The GPU pane: one row per GPU grouped by host, utilisation and memory as bars
coloured by the configured thresholds, a sparkline of recent utilisation.

A `LineTable` (widgets/line_table): a refresh moves every GPU's values, and drawing
cells only for the rows on screen keeps its cost to the screen, not the fleet (issue 14:
256 GPUs took ~0.18 s per refresh through the DataTable).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from servedeck.backends.metrics.model import GpuRow, gpu_order
from servedeck.backends.metrics.panes import PlotRequest
from servedeck.text import safe
from servedeck.widgets.cells import render_cell
from servedeck.widgets.gauges import bar, level_color, number, sparkline
from servedeck.widgets.line_table import LineTable
from servedeck.widgets.resource_table import table_class_for


class GpuTable(LineTable):
    """GPUs by host, then by index; the host shown on its first GPU only."""

    group_columns = frozenset({"host"})

    def arrange(self, row: Any) -> Any:
        return gpu_order(row)

    def group(self, row: GpuRow) -> Any:
        return row.host

    def cell(self, column: str, row: Any) -> Any:
        if not isinstance(row, GpuRow):
            return super().cell(column, row)
        return gpu_cell(column, row)


def gpu_cell(column: str, row: GpuRow) -> Any:
    color = lambda field: level_color(row.level_of(field), row.palette)  # noqa: E731
    if column == "host":
        return Text(safe(row.host), style="bold")
    if column == "util_percent":
        value = row.util_percent
        return bar(None if value is None else value / 100, f"{value:3.0f}%" if value is not None else "",
                   color=color("util_percent"), stale=row.stale)
    if column == "mem_percent":
        pct = row.mem_percent
        label = f"{row.mem_used_mib / 1024:.0f}/{row.mem_total_mib / 1024:.0f}G" if pct is not None else ""
        return bar(None if pct is None else pct / 100, label, color=color("mem_percent"), stale=row.stale)
    if column == "temp_c":
        return _level_text(number(row.temp_c, "°C"), color("temp_c"), row.stale)
    if column == "power_w":
        return _level_text(number(row.power_w, "W"), color("power_w"), row.stale)
    if column == "sm_clock_mhz":
        return number(row.sm_clock_mhz)
    if column == "xid_errors":
        xid = row.xid_errors
        return Text(f"{xid:.0f}", style="bold red") if xid else number(xid)
    if column == "history":
        return sparkline(row.history, width=24, low=0, high=100, stale=row.stale)
    if column == "state":
        return state_cell(row.state, row.age_s)
    return render_cell(column, getattr(row, column, None))


def _level_text(value: Any, color: str, stale: bool) -> Any:
    if isinstance(value, Text):
        return value
    return Text(value, style="dim" if stale else ("" if color == "green" else color))


def state_cell(state: str, age_s: float | None) -> Text:
    """ok, or stale/down with the age of the last value shown."""
    if state == "ok":
        return Text("ok", style="green")
    age = f" {render_cell('age_s', age_s)}" if age_s is not None else ""
    return Text(f"{state}{age}", style="bold red" if state == "down" else "yellow")


def make_gpu_table(spec, actions, **kwargs) -> GpuTable:
    return table_class_for(spec, actions, GpuTable)(spec, **kwargs)


PANE_BODIES = {"gpus": make_gpu_table}

# The plot action of every gauge pane (gpus, nodes, serving, routers) answers with a
def open_plot(app, request: PlotRequest) -> None:
    """textual-plotext (and plotext) load on the first plot, not at start."""
    from servedeck.widgets.plot_screen import open_plot as show

    show(app, request)


# PlotRequest: registered once, here.
FOLLOW_UPS = {PlotRequest: open_plot}
