"""The tunnels pane: sortable by any column, by name first."""

from __future__ import annotations

from servedeck.widgets.panes.jobs import sortable_body

PANE_BODIES = {"tunnels": sortable_body("name")}
