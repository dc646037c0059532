"""A table of one pane's rows, merged across backends, updated in place from snapshots.

Updates are diffs: unchanged cells are left alone, so the cursor, scroll position and
selection survive every refresh. A filter (`/`) hides rows whose cells do not contain
the text. Each pane gets its own subclass whose bindings are the actions its backends
declare, so the footer, help, keymap and palette all see them. Whenever the rows on
screen change (new data, scroll, resize, sort) the table posts `RowsOnScreen`, so the
app can tell backends that pay per row (container stats) which rows are worth paying for.
"""

from __future__ import annotations

from typing import Any, Iterable

from textual.binding import Binding
from textual.message import Message
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets._data_table import ColumnKey, RowKey, default_cell_formatter

from servedeck.backends.base import Action, PaneSpec
from servedeck.widgets.cells import render_cell
from servedeck.widgets.column_fit import fit_columns

SEP = "\x1f"
_NO_GROUP = object()


class RowActionKeys:
    """An action key on a row asks the app to run it; the app says whether it may."""

    def action_row_action(self, action_id: str) -> None:
        self.post_message(self.ActionRequested(self.spec.key, action_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "row_action":
            return True
        checker = getattr(self.app, "action_allowed", None)
        return checker(self.spec.key, str(parameters[0]), self.selected()) if checker else True


class ReportsRowsOnScreen:
    """Posts `RowsOnScreen` when the set of rows on screen changes, once per burst of
    changes (after the next refresh, when layout and scroll have settled). A table says
    which rows those are (`rows_on_screen`) and calls `_check_on_screen_soon` when they
    may have changed; scrolling is noticed here."""

    _screen_check = False  # a check is scheduled
    _on_screen: frozenset[str] | None = None  # row ids last reported on screen

    def rows_on_screen(self) -> frozenset[str]:
        raise NotImplementedError

    def _check_on_screen_soon(self) -> None:
        if not self._screen_check and self.is_attached:  # type: ignore[attr-defined]
            self._screen_check = True
            self.call_after_refresh(self._check_on_screen)  # type: ignore[attr-defined]

    def _check_on_screen(self) -> None:
        self._screen_check = False
        keys = self.rows_on_screen()
        if keys != self._on_screen:
            self._on_screen = keys
            self.post_message(ResourceTable.RowsOnScreen(self.spec.key, keys))  # type: ignore[attr-defined]

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)  # type: ignore[misc]
        self._check_on_screen_soon()


class ResourceTable(RowActionKeys, ReportsRowsOnScreen, DataTable):
    """Rows of one pane. Subclasses made by `table_class_for` add action bindings."""

    spec: PaneSpec
    pane_actions: tuple[Action, ...] = ()

    class ActionRequested(Message):
        """The user pressed an action key on a row."""

        def __init__(self, pane: str, action_id: str):
            super().__init__()
            self.pane = pane
            self.action_id = action_id

    class RowsOnScreen(Message):
        """The set of rows on screen changed; `keys` are row ids (`row_id`)."""

        def __init__(self, pane: str, keys: frozenset[str]):
            super().__init__()
            self.pane = pane
            self.keys = keys

    def __init__(self, spec: PaneSpec, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.spec = spec
        self.filter_text = ""
        self._rows: dict[str, tuple[str, Any]] = {}  # key -> (backend, row) currently shown
        self._cells: dict[str, list] = {}  # key -> cells as shown (after grouping)
        self._own: dict[str, list] = {}  # key -> cells as the row draws them (before grouping)
        self._all: list[tuple[str, Any]] = []
        self._relative = [i for i, c in enumerate(spec.columns) if c.key.endswith("_at")]
        self._dirty_rows: set[int] = set()  # row indexes changed since the last repaint
        self._dirty_keys: set = set()  # their RowKeys
        self._dirty_cells: set = set()  # (RowKey, ColumnKey) of the changed cells
        self._on_screen: frozenset[str] | None = None  # row ids last reported on screen
        self._screen_check = False  # a RowsOnScreen check is scheduled

    def on_mount(self) -> None:
        self._shown_columns = fit_columns(self.spec, self.size.width)
        for col in self._shown_columns:
            self.add_column(col.title, key=col.key, width=col.width)

    # -- columns that fit: the least important hide first (widgets/column_fit) ---------

    _shown_columns: tuple = ()

    def on_resize(self) -> None:
        shown = fit_columns(self.spec, self.size.width)
        if shown == self._shown_columns:
            self._check_on_screen_soon()  # a taller or shorter table shows other rows
            return
        self._shown_columns = shown
        self.clear(columns=True)
        for col in shown:
            self.add_column(col.title, key=col.key, width=col.width)
        self._rebuild({k: (*self._rows[k], self._own[k], self._cells[k]) for k in self._rows})
        self._check_on_screen_soon()

    def _visible(self, cells: list) -> list:
        if len(self._shown_columns) == len(self.spec.columns):
            return cells
        keys = {c.key for c in self._shown_columns}
        return [x for c, x in zip(self.spec.columns, cells) if c.key in keys]

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

    # -- hooks for custom bodies -----------------------------------------------------

    group_columns: frozenset[str] = frozenset()  # shown only on the first row of a group

    def cell(self, column: str, row: Any) -> Any:
        """How one cell is drawn. Subclasses colour cells or draw gauges here."""
        return render_cell(column, getattr(row, column, None))

    def order(self, entries: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """Rows in display order (default: as the backends gave them)."""
        return entries

    def group(self, row: Any) -> Any:
        """Rows with the same non-None group in a row show `group_columns` once."""
        return None

    # -- the diff ---------------------------------------------------------------------

    def _apply(self) -> None:
        """Show `_all` through the filter: reuse the drawn cells of unchanged rows, touch
        only cells that changed, and lay the table out again only when rows move."""
        wanted: dict[str, tuple[str, Any, list, list]] = {}  # key -> (backend, row, own cells, shown cells)
        last_group: Any = _NO_GROUP
        for backend, row in self.order(self._all):
            key = self.row_id(backend, row)
            shown = self._rows.get(key)
            own = self._own[key] if shown is not None and shown[1] == row else self._draw(row)
            if not self._matches(own):
                continue
            group = self.group(row)
            cells = own
            if group is not None and group == last_group and self.group_columns:
                cells = ["" if c.key in self.group_columns else x for c, x in zip(self.spec.columns, own)]
            last_group = group
            wanted[key] = (backend, row, own, cells)
        self._check_on_screen_soon()
        kept = [k for k in self._rows if k in wanted]
        if list(wanted) != kept + [k for k in wanted if k not in self._rows]:
            self._rebuild(wanted)  # rows moved: lay out again in order
            return
        for key in [k for k in self._rows if k not in wanted]:
            self.remove_row(key)
            del self._rows[key], self._cells[key], self._own[key]
        for key, (backend, row, own, cells) in wanted.items():
            old = self._cells.get(key)
            if old is None:
                self.add_row(*self._visible(cells), key=key)
            elif old is not cells:
                self._update_changed(key, old, cells)
            self._rows[key], self._own[key], self._cells[key] = (backend, row), own, cells

    def _draw(self, row: Any) -> list:
        return [self.cell(c.key, row) for c in self.spec.columns]

    def _rebuild(self, wanted: dict[str, tuple[str, Any, list, list]]) -> None:
        """Clear and add the rows in order, keeping the cursor on the same row."""
        current = self.selected()
        keep = self.row_id(*current) if current else None
        self.clear()
        self._rows, self._own, self._cells = {}, {}, {}
        for key, (backend, row, own, cells) in wanted.items():
            self.add_row(*self._visible(cells), key=key)
            self._rows[key], self._own[key], self._cells[key] = (backend, row), own, cells
        if keep in self._rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def _update_changed(self, key: str, old: list, cells: list) -> None:
        shown = {c.key for c in self._shown_columns}
        for col, before, after in zip(self.spec.columns, old, cells):
            if col.key not in shown:
                continue
            if str(before) != str(after) or getattr(before, "spans", None) != getattr(after, "spans", None) \
                    or getattr(before, "style", None) != getattr(after, "style", None):
                self._set_cell(key, col, before, after)

    def _set_cell(self, key: str, col, before: Any, after: Any) -> None:
        """Change one cell and repaint only its row. `DataTable.update_cell` repaints the
        whole table (and re-measures the column), which made every ticking age and every
        ping's latency redraw every visible line. The column is re-measured only when
        the column's width changes (it has no fixed width and this cell is, or was, its
        widest): an age going from "9s" to "10s" under a wider one costs one row."""
        if col.width is None and not self._width_kept(key, col, before, after):
            self.update_cell(key, col.key, after, update_width=True)  # the column widens or narrows
            return
        row_key, column_key = RowKey(key), ColumnKey(col.key)
        self._data[row_key][column_key] = after
        index = self._row_locations.get(row_key)
        if index is None:
            self._update_count += 1  # not laid out: let DataTable forget every render
            return
        self._dirty_rows.add(index)
        self._dirty_keys.add(row_key)
        self._dirty_cells.add((row_key, column_key))
        if len(self._dirty_rows) == 1:
            self.call_later(self._repaint_dirty)  # once, after this round of changes

    def _repaint_dirty(self) -> None:
        """Repaint the changed rows that are on screen (rows are one line high); rows
        off screen are drawn fresh when scrolled to."""
        dirty, self._dirty_rows = self._dirty_rows, set()
        self._forget_renders(self._dirty_keys, self._dirty_cells, dirty)
        self._dirty_keys, self._dirty_cells = set(), set()
        top = self.scroll_offset.y
        on_screen = [i for i in dirty if top <= i < top + self.size.height]
        if len(on_screen) > self.size.height // 2:
            self.refresh()
            return
        for index in on_screen:
            if index < self.row_count:
                self.refresh_row(index)

    # -- which rows are on screen --------------------------------------------------

    def rows_on_screen(self) -> frozenset[str]:
        """Row ids of the lines shown now (rows are one line high)."""
        height = self.scrollable_content_region.height - (self.header_height if self.show_header else 0)
        top = int(self.scroll_y)
        keys = (self._row_locations.get_key(i) for i in range(top, min(top + max(height, 0), self.row_count)))
        return frozenset(k.value for k in keys if k is not None)

    def sort(self, *columns, key=None, reverse: bool = False):
        result = super().sort(*columns, key=key, reverse=reverse)
        self._check_on_screen_soon()
        return result

    def _forget_renders(self, keys: set, cells: set, indexes: set[int]) -> None:
        """Drop DataTable's cached renders of these rows only. Bumping `_update_count`
        (what DataTable itself does) throws away every row's renders, so a 1 s tick that
        moves one age per row re-rendered every cell of every visible row (most of an
        idle cockpit's CPU on the Backends pane); now only the changed cells re-render,
        and the changed rows are put together again from the cells."""
        for cache, hit in ((self._cell_render_cache, lambda k: (k[0], k[1]) in cells),
                           (self._row_render_cache, lambda k: k[0] in keys),
                           (self._row_renderable_cache, lambda k: k[1] in indexes)):
            for k in [k for k in cache.keys() if hit(k)]:
                cache.discard(k)
        self._line_cache.clear()  # keyed by screen line: cheap to assemble again from the above

    def _width_kept(self, key: str, col, before: Any, after: Any) -> bool:
        """Whether DataTable's auto width for this column stays what it is (its rule: the
        widest cell or the label)."""
        column = self.columns.get(ColumnKey(col.key))
        if column is None:
            return False
        new, old, widest = self._cell_width(after), self._cell_width(before), column.content_width
        if new == old or old < new <= widest or new < old < widest:
            return True
        if new > old:
            return False
        if measure(self.app.console, column.label, 1) >= widest:  # the widest went narrower
            return True
        row_key = RowKey(key)
        return any(self._cell_width(cells[column.key]) >= widest for k, cells in self._data.items() if k != row_key)

    def _cell_width(self, value: Any) -> int:
        return measure(self.app.console, default_cell_formatter(value), 1)

    def refresh_relative(self) -> None:
        """Re-render the columns that show ages (`*_at`): they change with the clock alone."""
        if not self._relative:
            return
        for key, (backend, row) in self._rows.items():
            own, old = list(self._own[key]), self._cells[key]
            cells = list(old)
            for i in self._relative:
                col = self.spec.columns[i]
                own[i] = self.cell(col.key, row)
                if old[i] != "":  # a grouped-away cell stays blank
                    cells[i] = own[i]
            self._update_changed(key, old, cells)
            self._own[key], self._cells[key] = own, cells

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



def action_bindings(spec: PaneSpec, actions: Iterable[Action]) -> list[Binding]:
    """A binding per keyed action of a pane (remappable by id `<pane>.<action>`)."""
    return [
        Binding(a.key, f"row_action('{a.id}')", a.title, id=f"{spec.key}.{a.id}", tooltip=a.title)
        for a in actions
        if a.key
    ]


def table_class_for(spec: PaneSpec, actions: Iterable[Action], base: type | None = None) -> type:
    """A subclass of `base` (ResourceTable, the line table, or a pane's own table) for one
    pane, with a binding per keyed action: `ContainersTable`, `ContainersLineTable`."""
    base = base or ResourceTable
    actions = tuple(actions)
    bindings = action_bindings(spec, actions)
    name = "".join(part.title() for part in spec.key.split("_")) + base.__name__.replace("Resource", "")
    return type(name, (base,), {"BINDINGS": bindings, "pane_actions": actions})
