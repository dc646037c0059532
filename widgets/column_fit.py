"""Which columns of a pane fit a width: the least important hide first (80x24 sessions).

A column's `priority` says how long it stays (lower stays longer); without one, later
columns hide before earlier ones, and the row key and state/health columns stay.
"""

from __future__ import annotations

from servedeck.backends.base import Column, PaneSpec
from servedeck.widgets.cells import STATE_COLUMNS

AUTO_WIDTH = 12  # what a column without a fixed width is assumed to take
PADDING = 2  # DataTable's cell padding, both sides


def rank(spec: PaneSpec, index: int, column: Column) -> int:
    if column.priority is not None:
        return column.priority
    if column.key == spec.row_key or column.key in STATE_COLUMNS or index == 0:
        return 1
    return 10 + index


def fit_columns(spec: PaneSpec, width: int) -> tuple[Column, ...]:
    """The columns to show at `width` cells, in their own order (all of them when width <= 0)."""
    columns = list(spec.columns)
    if width <= 0:
        return tuple(columns)
    ranked = sorted(range(len(columns)), key=lambda i: rank(spec, i, columns[i]))
    shown = set(range(len(columns)))
    used = sum((c.width or AUTO_WIDTH) + PADDING for c in columns)
    for i in reversed(ranked):
        if used <= width or len(shown) == 1 or rank(spec, i, columns[i]) <= 1:
            continue
        shown.discard(i)
        used -= (columns[i].width or AUTO_WIDTH) + PADDING
    return tuple(c for i, c in enumerate(columns) if i in shown)
