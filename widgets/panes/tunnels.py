"""The tunnels pane: sortable by any column, by name first."""

from __future__ import annotations

from servedeck.widgets.line_table import sortable_line_body

PANE_BODIES = {"tunnels": sortable_line_body("name")}
