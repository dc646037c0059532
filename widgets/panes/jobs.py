"""The jobs pane: a `SortableLineTable` (widgets/line_table), sorted by job id first. A
cluster has tens of thousands of jobs, and that table keeps rows as plain data and draws
only the lines on screen."""

from __future__ import annotations

from servedeck.widgets.line_table import sortable_line_body
from servedeck.widgets.sort_order import sort_value

__all__ = ["PANE_BODIES", "sort_value"]

PANE_BODIES = {"jobs": sortable_line_body("job_id")}
