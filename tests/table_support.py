"""A headless app around one pane body, the body's lines as plain runs, and the
DataTable-based sortable table the panes were drawn with before the line table (the
reference look): shared by the tests that check a pane table draws what it drew."""

from __future__ import annotations

from typing import Callable, Iterable

from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.geometry import Region

from servedeck.backends.base import Action, PaneSpec
from servedeck.widgets.resource_table import ResourceTable, table_class_for
from servedeck.widgets.sort_order import SortActions, sort_value


class PaneBodyApp(App):
    """One pane body (as the app builds it: spec, actions, id = the pane's key), and what
    it posted: the actions it asked for, the row keys it reported on screen."""

    def __init__(self, factory: Callable, spec: PaneSpec, actions: Iterable[Action]):
        super().__init__()
        self.factory, self.spec, self.actions = factory, spec, list(actions)
        self.requested: list[tuple[str, str]] = []
        self.on_screen: list[frozenset[str]] = []

    def compose(self) -> ComposeResult:
        yield self.factory(self.spec, self.actions, id=self.spec.key)

    def on_resource_table_action_requested(self, event: ResourceTable.ActionRequested) -> None:
        self.requested.append((event.pane, event.action_id))

    def on_resource_table_rows_on_screen(self, event: ResourceTable.RowsOnScreen) -> None:
        self.on_screen.append(event.keys)


def drawn(table) -> list[list[tuple[str, object]]]:
    """The table's lines as (text, style) runs, without the mouse metadata."""
    strips = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return [[(s.text, s.style.copy() if s.style else None) for s in Segment.simplify(
        Segment(seg.text, seg.style.clear_meta_and_links() if seg.style else None) for seg in strip)]
        for strip in strips]


class SortableTable(SortActions, ResourceTable):
    """A ResourceTable whose rows follow a chosen column (none: arrival order): rows are
    re-ordered only when the order the sort asks for differs from the order shown."""

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
    """A pane-body factory: the pane's DataTable-based action table, made sortable."""

    def factory(spec: PaneSpec, actions: Iterable[Action], id: str | None = None, **kwargs) -> ResourceTable:
        base = table_class_for(spec, actions)
        name = base.__name__.replace("Table", "SortableTable")
        cls = type(name, (SortableTable, base), {"DEFAULT_SORT": default_sort})
        return cls(spec, id=id, **kwargs)

    return factory
