"""The serving and router-metrics panes: KV-cache usage as a bar, throughput sparklines,
latencies in milliseconds, stale/down rows marked with their age."""

from __future__ import annotations

from typing import Any

from servedeck.backends.metrics.model import RouterRow, ServingRow
from servedeck.widgets.gauges import bar, number, sparkline
from servedeck.widgets.line_table import LineTable
from servedeck.widgets.panes.gpus import state_cell
from servedeck.widgets.resource_table import table_class_for


class ServingTable(LineTable):
    def cell(self, column: str, row: Any) -> Any:
        if not isinstance(row, (ServingRow, RouterRow)):
            return super().cell(column, row)
        if column == "token_usage" and isinstance(row, ServingRow):
            use = row.token_usage
            return bar(use, f"{use * 100:3.0f}%" if use is not None else "", width=6, stale=row.stale)
        if column in ("running_reqs", "queued_reqs") and isinstance(row, ServingRow):
            value = getattr(row, column)
            return number(value)
        if column == "history":
            return sparkline(row.history, width=20, low=0, stale=row.stale)
        if column == "state":
            return state_cell(row.state, row.age_s)
        return super().cell(column, row)


def make_serving_table(spec, actions, **kwargs) -> ServingTable:
    return table_class_for(spec, actions, ServingTable)(spec, **kwargs)


PANE_BODIES = {"serving": make_serving_table, "routers": make_serving_table}
