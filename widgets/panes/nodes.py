"""The nodes pane: CPU and memory of each host as bars, load, a CPU sparkline."""

from __future__ import annotations

from typing import Any

from servedeck.backends.metrics.model import NodeRow
from servedeck.widgets.cells import human_bytes
from servedeck.widgets.gauges import bar, sparkline
from servedeck.widgets.line_table import LineTable
from servedeck.widgets.panes.gpus import state_cell
from servedeck.widgets.resource_table import table_class_for


class NodeTable(LineTable):
    def cell(self, column: str, row: Any) -> Any:
        if not isinstance(row, NodeRow):
            return super().cell(column, row)
        if column == "cpu_percent":
            cpu = row.cpu_percent
            return bar(None if cpu is None else cpu / 100, f"{cpu:3.0f}%" if cpu is not None else "", stale=row.stale)
        if column == "mem_percent":
            pct = row.mem_percent
            label = f"{human_bytes(row.mem_used_bytes)}/{human_bytes(row.mem_total_bytes)}"
            return bar(None if pct is None else pct / 100, label, stale=row.stale)
        if column == "history":
            return sparkline(row.history, width=24, low=0, high=100, stale=row.stale)
        if column == "state":
            return state_cell(row.state, row.age_s)
        return super().cell(column, row)


def make_node_table(spec, actions, **kwargs) -> NodeTable:
    return table_class_for(spec, actions, NodeTable)(spec, **kwargs)


PANE_BODIES = {"nodes": make_node_table}
