"""A table of one pane's rows, merged across backends, updated in place from snapshots.

Updates are diffs: unchanged cells are left alone, so the cursor, scroll position and
selection survive every refresh. A filter (`/`) hides rows whose cells do not contain
the text. Each pane gets its own subclass whose bindings are the actions its backends
declare, so the footer, help, keymap and palette all see them.
"""

from __future__ import annotations

from typing import Any, Iterable

from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from servedeck.backends.base import Action, PaneSpec
from servedeck.widgets.cells import render_cell

SEP = "\x1f"


class ResourceTable(DataTable):
    """Rows of one pane. Subclasses made by `table_class_for` add action bindings."""

    spec: PaneSpec
    pane_actions: tuple[Action, ...] = ()

    class ActionRequested(Message):
        """The user pressed an action key on a row."""

        def __init__(self, pane: str, action_id: str):
            super().__init__()
            self.pane = pane
            self.action_id = action_id

    def __init__(self, spec: PaneSpec, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.spec = spec
        self.filter_text = ""
        self._rows: dict[str, tuple[str, Any]] = {}  # key -> (backend, row) currently shown
        self._cells: dict[str, list] = {}  # key -> rendered cells currently shown
        self._all: list[tuple[str, Any]] = []
        self._relative = [i for i, c in enumerate(spec.columns) if c.key.endswith("_at")]

    def on_mount(self) -> None:
        for col in self.spec.columns:
            self.add_column(col.title, key=col.key, width=col.width)

    # -- data -------------------------------------------------------------------------

    def row_id(self, backend: str, row: Any) -> str:
        return f"{backend}{SEP}{getattr(row, self.spec.row_key, id(row))}"

    def show(self, entries: Iterable[tuple[str, Any]]) -> None:
        """Replace the content with these (backend, row) entries, as a diff."""
        self._all = list(entries)
        self._apply()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._apply()

    def _matches(self, cells: list) -> bool:
        if not self.filter_text:
            return True
        needle = self.filter_text.casefold()
        return any(needle in str(c).casefold() for c in cells)

    def _apply(self) -> None:
        wanted: dict[str, tuple[str, Any, list]] = {}
        for backend, row in self._all:
            cells = [render_cell(c.key, getattr(row, c.key, None)) for c in self.spec.columns]
            if self._matches(cells):
                wanted[self.row_id(backend, row)] = (backend, row, cells)
        for key in [k for k in self._rows if k not in wanted]:
            self.remove_row(key)
            del self._rows[key], self._cells[key]
        for key, (backend, row, cells) in wanted.items():
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            else:
                self._update_changed(key, old, cells)
            self._rows[key] = (backend, row)
            self._cells[key] = cells

    def _update_changed(self, key: str, old: list, cells: list) -> None:
        for col, before, after in zip(self.spec.columns, old, cells):
            if str(before) != str(after) or getattr(before, "style", None) != getattr(after, "style", None):
                self.update_cell(key, col.key, after, update_width=True)

    def refresh_relative(self) -> None:
        """Re-render the columns that show ages (`*_at`): they change with the clock alone."""
        if not self._relative:
            return
        for key, (backend, row) in self._rows.items():
            old = self._cells[key]
            cells = list(old)
            for i in self._relative:
                col = self.spec.columns[i]
                cells[i] = render_cell(col.key, getattr(row, col.key, None))
            self._update_changed(key, old, cells)
            self._cells[key] = cells

    @property
    def shown_count(self) -> int:
        return len(self._rows)

    @property
    def total_count(self) -> int:
        return len(self._all)

    def selected(self) -> tuple[str, Any] | None:
        """The (backend, row) under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None
        return self._rows.get(key)

    # -- actions ----------------------------------------------------------------------

    def action_row_action(self, action_id: str) -> None:
        self.post_message(self.ActionRequested(self.spec.key, action_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "row_action":
            return True
        checker = getattr(self.app, "action_allowed", None)
        return checker(self.spec.key, str(parameters[0]), self.selected()) if checker else True


def table_class_for(spec: PaneSpec, actions: Iterable[Action]) -> type[ResourceTable]:
    """A ResourceTable subclass for one pane, with a binding per keyed action."""
    actions = tuple(actions)
    bindings = [
        Binding(a.key, f"row_action('{a.id}')", a.title, id=f"{spec.key}.{a.id}", tooltip=a.title)
        for a in actions
        if a.key
    ]
    name = "".join(part.title() for part in spec.key.split("_")) + "Table"
    return type(name, (ResourceTable,), {"BINDINGS": bindings, "pane_actions": actions})
