"""The jobs pane, and sorting by any column (`s` cycles, `S` reverses) for the tables of
other panes (workers, tunnels).

The jobs pane is a `SortableLineTable` (widgets/line_table): a cluster has tens of
thousands of jobs, and that table keeps rows as plain data and draws only the lines on
screen. `SortableTable` keeps the DataTable-based table's diffed updates: rows are
re-ordered only when the order the sort asks for differs from the order shown, so the
cursor survives refreshes.
"""

from __future__ import annotations

from typing import Iterable

from textual.binding import Binding

from servedeck.backends.base import Action, PaneSpec
from servedeck.widgets.line_table import sortable_line_body
from servedeck.widgets.resource_table import ResourceTable, table_class_for
from servedeck.widgets.sort_order import SortActions, sort_value

__all__ = ["PANE_BODIES", "SortableTable", "sort_value", "sortable_body"]


class SortableTable(SortActions, ResourceTable):
    """A ResourceTable whose rows follow a chosen column (none: arrival order)."""

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort", id="sort.cycle", tooltip="Sort by the next column"),
        Binding("S", "reverse_sort", "Reverse", id="sort.reverse", tooltip="Reverse the sort order", show=False),
    ]
    DEFAULT_SORT: str | None = None

    def __init__(self, spec: PaneSpec, **kwargs):
        super().__init__(spec, **kwargs)
        self.sort_key: str | None = self.DEFAULT_SORT
        self.sort_reverse = False

    def _apply(self) -> None:
        super()._apply()
        self._resort()

    def _resort(self) -> None:
        if not self.sort_key or not self._rows:
            return
        key = self.sort_key
        desired = [k for k, _ in sorted(self._rows.items(), key=lambda kv: sort_value(getattr(kv[1][1], key, None)),
                                        reverse=self.sort_reverse)]
        if desired == [row.key.value for row in self.ordered_rows]:
            return
        rank = {tuple(str(c) for c in self._visible(self._cells[k])): i for i, k in enumerate(desired)}  # as drawn
        self.sort(key=lambda cells: rank.get(tuple(str(c) for c in cells), 0))


def sortable_body(default_sort: str | None):
    """A pane-body factory: the pane's action table, made sortable."""

    def factory(spec: PaneSpec, actions: Iterable[Action], id: str | None = None, **kwargs) -> ResourceTable:
        base = table_class_for(spec, actions)
        name = base.__name__.replace("Table", "SortableTable")
        cls = type(name, (SortableTable, base), {"DEFAULT_SORT": default_sort})
        return cls(spec, id=id, **kwargs)

    return factory


PANE_BODIES = {"jobs": sortable_line_body("job_id")}
