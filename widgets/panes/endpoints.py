"""The joined view: one row per serving endpoint, GPU(s) <-> job <-> router worker <->
tunnel <-> container, with each link's health coloured (see servedeck.overview.joined)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from rich.text import Text

from servedeck.backends.base import Snapshot
from servedeck.overview.joined import JOINED, endpoints
from servedeck.widgets.cells import STATE_STYLE, render_cell, state_class
from servedeck.widgets.line_table import LineTable
from servedeck.widgets.resource_table import table_class_for

LINK_COLUMNS = {"job_state", "worker_state", "tunnel_state", "container_state", "serving_state", "gpu_state"}
EXTRA_WORDS = {"hot": "bad", "xid": "bad", "unregistered": "warn"}


class EndpointsTable(LineTable):
    feeds = frozenset({"gpus", "serving", "jobs", "workers", "tunnels", "deployments", "containers"})

    def show_snapshots(self, snapshots: Mapping[str, Snapshot], now: float, **_: Any) -> None:
        self.show(("servedeck", row) for row in endpoints(snapshots))

    def cell(self, column: str, row: Any) -> Any:
        value = getattr(row, column, None)
        if column in LINK_COLUMNS and value:
            cls = EXTRA_WORDS.get(value) or state_class(value)
            return Text(value, style=STATE_STYLE[cls]) if cls else value
        if column == "gpu_util_percent" and value is not None:
            return f"{value:.0f}%"
        if column == "gpu_temp_c" and value is not None:
            return f"{value:.0f}°C"
        if column == "links" and value:
            return Text(value, style="green" if value == "ok" else "bold red")
        return render_cell(column, value)


def make_endpoints(spec, actions: Iterable = (), **kwargs) -> EndpointsTable:
    return table_class_for(spec, actions, EndpointsTable)(spec, **kwargs)


PANE_BODIES = {"endpoints": make_endpoints}
ALWAYS_PANES = {"endpoints": JOINED}
