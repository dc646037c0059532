"""The workers pane: router workers sortable like jobs (by url first), with the SLURM job
and tunnel behind each worker and any drain step in progress as columns."""

from __future__ import annotations

from servedeck.widgets.line_table import sortable_line_body

PANE_BODIES = {"workers": sortable_line_body("url")}
