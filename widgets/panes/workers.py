"""The workers pane: router workers sortable like jobs (by url first), with the SLURM job
and tunnel behind each worker and any drain step in progress as columns."""

from __future__ import annotations

from servedeck.widgets.panes.jobs import sortable_body

PANE_BODIES = {"workers": sortable_body("url")}
