"""The compose pane: each project on a bold row with its services beneath it, in
`depends_on` order. The actions act on the row under the cursor: on a project row the
whole project, on a service row that service only."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from servedeck.backends.compose.rows import ComposeRow
from servedeck.text import safe
from servedeck.widgets.cells import render_cell
from servedeck.widgets.line_table import LineTable
from servedeck.widgets.resource_table import table_class_for


class ComposeTable(LineTable):
    group_columns = frozenset({"host"})

    def group(self, row: Any) -> Any:
        return getattr(row, "host", None)

    def cell(self, column: str, row: Any) -> Any:
        if not isinstance(row, ComposeRow):
            return super().cell(column, row)
        return compose_cell(column, row)


def compose_cell(column: str, row: ComposeRow) -> Any:
    if row.kind == "project":
        if column == "project":
            return Text(safe(row.project), style="bold")
        if column in ("service", "exit_code", "depends_on", "ports", "image"):
            return ""
        if column == "container":
            return Text(safe(row.container), style="dim")
    else:
        if column == "project":
            return ""
        if column == "service":
            return Text("└ ", style="dim") + Text(safe(row.service))
        if column == "exit_code" and row.exit_code is not None:
            return Text(str(row.exit_code), style="green" if row.exit_code == 0 else "bold red")
    if column == "host":
        return Text(safe(row.host), style="bold")
    return render_cell(column, getattr(row, column, None))


def make_compose_table(spec, actions, **kwargs) -> ComposeTable:
    return table_class_for(spec, actions, ComposeTable)(spec, **kwargs)


PANE_BODIES = {"compose": make_compose_table}
