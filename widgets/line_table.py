"""A pane table that keeps rows as plain data and renders only the lines on screen.

Textual's DataTable (under ResourceTable) turns every row into renderables and measures
every cell as rows arrive: a 50,000-job cluster cost seconds per fill and a quarter of a
second per 1 %-changed refresh. This table keeps the (backend, row) pairs, finds changed
rows by identity then equality, sorts (`sort_value`) and filters over plain data once per
change, and calls `cell()` for a row only when that row is drawn (`render_line`, as the
log view does). It draws like the other tables (DataTable's component classes, header,
zebra stripes, row cursor, cell padding, widgets/column_fit) and has the pane-body
surface the app uses (widgets/panes/__init__.py). A table can also keep its own order
when no column is sorted (`arrange`, the GPU pane: by host, then GPU) and show a group's
columns once (`group_columns`, `group`: the host on its first GPU only).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import compress, filterfalse
from operator import attrgetter, itemgetter, ne
from typing import Any, ClassVar, Iterable, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._segment_tools import line_crop
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.render import measure
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable

from servedeck.backends.base import Action, PaneSpec
from servedeck.collector import collector_paused
from servedeck.secrets import has_secrets
from servedeck.widgets.cells import render_cell
from servedeck.widgets.column_fit import fit_columns
from servedeck.widgets.row_drawing import EMPTY_TEXT, NULL_STYLE, PADDING, cell_segments, formatted_cell
from servedeck.widgets.resource_table import SEP, ReportsRowsOnScreen, ResourceTable, RowActionKeys, table_class_for
from servedeck.widgets.sort_order import SortActions, sort_values

_UNIT_SUFFIXES = ("_s", "_bytes", "_at", "_ms")  # the columns render_cell draws with units
_LINE_CACHE_ROWS = 400  # rows whose drawn lines are kept (a few screens)


class RowDoesNotExist(KeyError):
    """No row with that key is shown."""


class RowKey(NamedTuple):
    value: str


class RowRef(NamedTuple):
    """A shown row as `ordered_rows` lists it (DataTable's shape: `.key.value`)."""

    key: RowKey


def plain_text(column: str, value: Any) -> str:
    """The text `render_cell` draws for a value, at a fraction of its cost: a filter over
    50,000 rows reads 600,000 cells. Clean strings are their own text; numbers, empties
    and flags repeat across rows, so their drawn text is cached (ages excepted: they move)."""
    kind = type(value)
    if kind is str and value and value.isprintable() and not has_secrets():
        return value
    if kind is int and not column.endswith(_UNIT_SUFFIXES):
        return str(value)
    if (kind in (int, float, bool, type(None)) or value == "") and not column.endswith("_at"):
        return _drawn_text(column, kind, value)
    return str(render_cell(column, value))


@lru_cache(maxsize=16384)
def _drawn_text(column: str, kind: type, value: Any) -> str:
    """Keyed by type too: True and 1 (and 1.0) are equal keys, drawn differently."""
    return str(render_cell(column, value))


def _same_look(before: Any, after: Any) -> bool:
    """Whether two drawn cells look the same (Text compares by identity)."""
    if type(before) is Text and type(after) is Text:
        return before.plain == after.plain and before.style == after.style and before.spans == after.spans
    return before == after


class LineTable(RowActionKeys, ReportsRowsOnScreen, ScrollView, can_focus=True):
    """Rows of one pane drawn a line at a time; `sort_key` orders them (None: as given)."""

    # DataTable's look, selector for selector, so this table matches the others.
    DEFAULT_CSS = DataTable.DEFAULT_CSS.replace("DataTable", "LineTable")
    COMPONENT_CLASSES: ClassVar[set[str]] = set(DataTable.COMPONENT_CLASSES)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "cursor_top", "Top", show=False),
        Binding("ctrl+end", "cursor_bottom", "Bottom", show=False),
        Binding("home", "scroll_home", "Home", show=False),
        Binding("end", "scroll_end", "End", show=False),
    ]

    # The app handles these by ResourceTable's handler names (on_resource_table_...).
    ActionRequested = ResourceTable.ActionRequested
    RowsOnScreen = ResourceTable.RowsOnScreen

    class CursorMoved(Message):
        """The cursor is on another row (keys, mouse or a jump): what follows the
        selected row (the footer's actions, a details panel) looks again."""

    spec: PaneSpec
    pane_actions: tuple[Action, ...] = ()
    DEFAULT_SORT: str | None = None
    group_columns: frozenset[str] = frozenset()  # shown only on the first row of a group
    header_height = 1
    show_header = True

    def __init__(self, spec: PaneSpec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.filter_text = ""
        self.sort_key: str | None = self.DEFAULT_SORT
        self.sort_reverse = False
        self.cursor_row = 0
        self.hover_row = 0
        self._show_hover = False
        self._all: list[tuple[str, Any]] = []
        self._keys: list[str] = []  # the key of each of `_all`, when no key repeats (else empty)
        self._rows: dict[str, tuple[str, Any]] = {}  # key -> (backend, row), in arrival order
        self._order: list[str] = []  # keys shown, in display order
        self._arrival: list[str] = []  # every key, in arrival order, when last laid out
        self._col_widths: list[int] | None = None  # render widths of the shown columns
        self._laid_out_as: tuple = ()  # (sort key, reverse, filter) of `_order`
        self._sort_values: dict[str, tuple] = {}  # key -> sort_value of the sort column
        self._haystacks: dict[str, str] = {}  # key -> drawn text, casefolded (while filtering)
        self._drawn: dict[str, list] = {}  # key -> formatted cells of the shown columns
        self._lines: dict[str, dict[tuple, Strip]] = {}  # key -> drawn lines by look
        self._auto_widths: dict[str, dict[str, int]] = {}  # auto-width column -> key -> width
        self._styles: dict[tuple, Any] = {}  # component styles by state (cleared on restyle)
        self._styled: dict[tuple, dict] = {}  # (row and component, cursor's) -> id(cell's) -> (it, combined)
        self._named: dict[str, Style] = {}  # style names in cells -> styles
        self._base_style: Style | None = None  # the widget's style, while lines are drawn
        self._cursor_key: str | None = None
        self._relative = frozenset(c.key for c in spec.columns if c.key.endswith("_at"))
        self._shown_columns: tuple = fit_columns(spec, 0)
        self._on_screen: frozenset[str] | None = None
        self._screen_check = False
        self._pseudo: Any = None

    # -- columns that fit: the least important hide first (widgets/column_fit) ---------

    def on_mount(self) -> None:
        self._set_columns(fit_columns(self.spec, self.size.width))

    def on_resize(self) -> None:
        shown = fit_columns(self.spec, self.size.width)
        if shown != self._shown_columns:
            self._set_columns(shown)
        else:
            self._lines.clear()  # the filler after the last column follows the width
            self.refresh()
        self._check_on_screen_soon()

    def _set_columns(self, shown: tuple) -> None:
        self._shown_columns = shown
        self._auto_widths = {c.key: {} for c in shown if c.width is None}
        self._col_widths = None
        self._drawn.clear()
        self._lines.clear()
        self._update_virtual_size()
        self.refresh()

    def _column_width(self, col) -> int:
        if col.width is not None:
            return col.width
        widths = self._auto_widths.get(col.key)
        if widths is None:
            return measure(self.app.console, Text.from_markup(col.title), 1)
        missing = [k for k in self._rows if k not in widths]
        for key in missing:
            row = self._rows[key][1]
            widths[key] = measure(self.app.console, formatted_cell(self.cell(col.key, row)), 1)
        label = measure(self.app.console, Text.from_markup(col.title), 1)
        return max(label, max(widths.values(), default=0))

    def _widths(self) -> list[int]:
        if self._col_widths is None:
            self._col_widths = [self._column_width(c) + 2 * PADDING for c in self._shown_columns]
        return self._col_widths

    def _widths_changed(self) -> bool:
        """After rows changed: whether an auto-width column is now wider or narrower
        (every line is drawn again then)."""
        before, self._col_widths = self._col_widths, None
        if self._widths() == before:
            return False
        self._lines.clear()
        return True

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(sum(self._widths()), len(self._order) + self.header_height)

    # -- data -------------------------------------------------------------------------

    def row_id(self, backend: str, row: Any) -> str:
        return f"{backend}{SEP}{getattr(row, self.spec.row_key, id(row))}"

    def show(self, entries: Iterable[tuple[str, Any]]) -> None:
        """Replace the content with these (backend, row) entries. Unchanged rows (the same
        object, or an equal one) cost a comparison; the order is computed again only
        when a row came, went, or changed what it is sorted or filtered by."""
        with collector_paused():
            self._show(list(entries))

    def _show(self, entries: list[tuple[str, Any]]) -> None:
        old = self._rows
        changed = self._changed_in_place(entries)
        if changed is None:  # rows came, went or moved: key them all again
            new = self._keyed(entries)
            # C-level passes (map, compress): a 50,000-row poll with 1 % changed costs milliseconds.
            if old:
                changed = list(compress(new, map(ne, new.values(), map(old.get, new))))
                added = len(changed) - sum(map(old.__contains__, changed))
            else:  # a first fill: every row is new
                changed = list(new)
                added = len(changed)
            gone = list(filterfalse(new.__contains__, old)) if len(old) + added != len(new) else []
            self._rows = new
        else:
            new, added, gone = old, 0, []
        self._all = entries
        self._forget(changed + gone)
        relayout = bool(added or gone) or self._laid_out_as != self._layout_state()
        ordered = self._ordered()
        if ordered and changed:
            if relayout:  # computed again below
                self._forget_in("_sort_values", changed)
            else:
                values = self._sort_values
                new_values = self._order_values([new[key][1] for key in changed])
                for key, value in zip(changed, new_values):
                    if values.get(key) != value:
                        relayout = True
                    values[key] = value
        if gone:
            self._forget_in("_sort_values", gone)
        if self.filter_text and changed:
            relayout = True  # a changed row may now pass, or fail, the filter
        if not relayout and not ordered and list(new) != self._arrival:
            relayout = True  # arrival order is the order shown
        if self._auto_widths and (changed or gone):
            relayout |= self._widths_changed()
        if relayout:
            self._layout()
        else:
            self._refresh_rows(changed)
        self._check_on_screen_soon()

    def _changed_in_place(self, entries: list[tuple[str, Any]]) -> list[str] | None:
        """When these entries are the shown ones position for position (each the same
        entry, an equal one, or a row with the key that was there), as a refresh of the
        same poll or a poll where some jobs changed state gives: put the changed ones in
        `_rows` and return their keys, without keying every entry again. None otherwise."""
        shown, keys = self._all, self._keys
        if not entries or len(entries) != len(shown) or len(keys) != len(shown):
            return None
        moved = list(compress(range(len(entries)), map(ne, entries, shown)))  # identity first, then ==
        if len(moved) > len(entries) // 4:
            return None  # most rows are new: keying them all is as cheap
        changed = [self.row_id(*entries[i]) for i in moved]
        if any(map(ne, changed, map(keys.__getitem__, moved))):
            return None  # a row came or went here
        self._rows.update(zip(changed, map(entries.__getitem__, moved)))
        return changed

    def _keyed(self, entries: list[tuple[str, Any]]) -> dict[str, tuple[str, Any]]:
        """key (`row_id`) -> entry; a later entry with the same key replaces an earlier one."""
        try:
            ids = list(map(attrgetter(self.spec.row_key), map(itemgetter(1), entries)))
        except AttributeError:  # a row without the key attribute: `row_id` falls back to id()
            self._keys = []
            return {self.row_id(*entry): entry for entry in entries}
        backends = set(map(itemgetter(0), entries))
        if len(backends) == 1 and set(map(type, ids)) == {str}:  # one backend's text ids: C-level joins
            keys = list(map(f"{next(iter(backends))}{SEP}".__add__, ids))
        else:
            keys = [f"{backend}{SEP}{row_id}" for (backend, _), row_id in zip(entries, ids)]
        keyed = dict(zip(keys, entries))
        self._keys = keys if len(keyed) == len(keys) else []  # positional keys, when none repeats
        return keyed

    def _layout_state(self) -> tuple:
        return (self.sort_key, self.sort_reverse, self.filter_text)

    def _ordered(self) -> bool:
        """Whether rows follow order values (a sorted column, or the table's `arrange`)."""
        return bool(self.sort_key) or type(self).arrange is not LineTable.arrange

    def _order_values(self, rows: list[Any]) -> list[Any]:
        if self.sort_key:
            get = attrgetter(self.sort_key)
            try:
                return sort_values(map(get, rows))
            except AttributeError:
                return sort_values(getattr(row, self.sort_key, None) for row in rows)
        return list(map(self.arrange, rows))

    def _forget(self, keys: list[str]) -> None:
        """Drop what was drawn from these rows (sort values: see `show`)."""
        if not keys:
            return
        for name in ("_drawn", "_lines", "_haystacks"):
            self._forget_in(name, keys)
        for column in self._auto_widths:
            self._auto_widths[column] = self._without(self._auto_widths[column], keys)

    def _forget_in(self, name: str, keys: list[str]) -> None:
        setattr(self, name, self._without(getattr(self, name), keys))

    @staticmethod
    def _without(cache: dict, keys: list[str]) -> dict:
        if not cache:
            return cache
        if len(keys) < len(cache):
            for key in keys:
                cache.pop(key, None)
            return cache
        gone = set(keys)
        return {k: v for k, v in cache.items() if k not in gone}  # a fill: cheaper to copy the rest

    def _layout(self) -> None:
        """Order the rows (sort, then filter) and keep the cursor on the row it was on."""
        keys = list(self._rows)
        self._arrival = keys[:]
        if self._ordered():
            if self._laid_out_as[:1] != (self.sort_key,):
                self._sort_values = {}
            values = self._sort_values
            missing = list(filterfalse(values.__contains__, keys)) if values else keys
            rows = list(map(itemgetter(1), map(self._rows.__getitem__, missing)))
            values.update(zip(missing, self._order_values(rows)))
            keys.sort(key=values.__getitem__, reverse=self.sort_reverse)  # stable: ties keep arrival order
        if self.filter_text:
            needle = self.filter_text.casefold()
            haystacks = self._haystacks
            missing = list(filterfalse(haystacks.__contains__, keys))
            haystacks.update(zip(missing, self._haystacks_of(missing)))
            keys = [k for k in keys if needle in haystacks[k]]
            if len(self._haystacks) > 2 * len(self._rows) + 1000:
                self._haystacks = {k: self._haystacks[k] for k in self._rows if k in self._haystacks}
        self._order = keys
        self._laid_out_as = self._layout_state()
        previous = self.cursor_row
        index = self._index_of(self._cursor_key)
        self.cursor_row = index if index is not None else max(0, min(previous, len(keys) - 1))
        self._cursor_key = keys[self.cursor_row] if keys else None
        if len(self._lines) > _LINE_CACHE_ROWS:
            self._lines.clear()
        self._update_virtual_size()
        self.refresh()
        if index is not None and index != previous:
            self._scroll_cursor_into_view()

    def _haystacks_of(self, keys: list[str]) -> list[str]:
        """What the filter looks in, per row: every column's text as drawn (hidden columns
        too), casefolded. Clean strings (most cells) are their own text, tested inline."""
        columns = [c.key for c in self.spec.columns]
        rows = [self._rows[k][1] for k in keys]
        if type(self).cell is not LineTable.cell:  # custom cells: draw them
            return ["\x1f".join([str(self.cell(c, row)) for c in columns]).casefold() for row in rows]
        if has_secrets():
            return ["\x1f".join([plain_text(c, getattr(row, c, None)) for c in columns]).casefold() for row in rows]
        out = []
        for row in rows:
            values = [getattr(row, c, None) for c in columns]
            out.append("\x1f".join([v if type(v) is str and v and v.isprintable() else plain_text(c, v)
                                     for c, v in zip(columns, values)]).casefold())
        return out

    def _index_of(self, key: str | None) -> int | None:
        if key is None:
            return None
        if self._order and 0 <= self.cursor_row < len(self._order) and self._order[self.cursor_row] == key:
            return self.cursor_row
        try:
            return self._order.index(key)
        except ValueError:
            return None

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._layout()
        self._check_on_screen_soon()

    def _refresh_rows(self, keys: list[str]) -> None:
        """Repaint the lines of these rows that are on screen (rows are one line high)."""
        if not keys:
            return
        top, height = self._window()
        wanted = set(keys)
        lines = [i for i, key in enumerate(self._order[top:top + height]) if key in wanted]
        if len(lines) > height // 2:
            self.refresh()
            return
        for i in lines:
            self.refresh_line(top + i + self.header_height)

    def _window(self) -> tuple[int, int]:
        """The first row index on screen and how many rows fit."""
        height = self.scrollable_content_region.height - self.header_height
        return int(self.scroll_y), max(height, 0)

    # -- hooks --------------------------------------------------------------------------

    def cell(self, column: str, row: Any) -> Any:
        """How one cell is drawn. Subclasses colour cells here."""
        return render_cell(column, getattr(row, column, None))

    def arrange(self, row: Any) -> Any:
        """The row's place when no column is sorted (a table that defines this keeps rows
        in its order; ties keep their arrival order). Not defined: arrival order."""
        raise NotImplementedError

    def group(self, row: Any) -> Any:
        """Rows next to each other with the same non-None group show `group_columns` once."""
        return None

    def _first_of_group(self, index: int) -> bool:
        """Whether the row at this index shows its group columns."""
        if not self.group_columns or index <= 0:
            return True
        order, rows = self._order, self._rows
        group = self.group(rows[order[index]][1])
        return group is None or group != self.group(rows[order[index - 1]][1])

    def _grouped(self, cells: list[Any], first: bool, blank: Any = "") -> list[Any]:
        """The cells of the shown columns with the group columns blank after a group's first row."""
        if first:
            return cells
        return [blank if c.key in self.group_columns else x for c, x in zip(self._shown_columns, cells)]

    # -- the surface the app uses -----------------------------------------------------

    @property
    def shown_count(self) -> int:
        return len(self._order)

    @property
    def total_count(self) -> int:
        return len(self._all)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def ordered_rows(self) -> list[RowRef]:
        return [RowRef(RowKey(k)) for k in self._order]

    def selected(self) -> tuple[str, Any] | None:
        """The (backend, row) under the cursor, or None when the table is empty."""
        if not self._order:
            return None
        return self._rows.get(self._order[self.cursor_row])

    def get_row_index(self, key: str) -> int:
        index = self._index_of(key)
        if index is None:
            raise RowDoesNotExist(key)
        return index

    # DataTable's readers, for callers written against it (tests read panes this way):
    # the cells of the shown columns, as `cell()` draws them.

    def get_row(self, key: str) -> list[Any]:
        if key not in self._rows:
            raise RowDoesNotExist(key)
        row = self._rows[key][1]
        cells = [self.cell(c.key, row) for c in self._shown_columns]
        if self.group_columns:
            index = self._index_of(key)
            cells = self._grouped(cells, index is None or self._first_of_group(index))
        return cells

    def get_row_at(self, index: int) -> list[Any]:
        if not 0 <= index < len(self._order):
            raise RowDoesNotExist(index)
        return self.get_row(self._order[index])

    def get_cell(self, key: str, column: str) -> Any:
        if key not in self._rows:
            raise RowDoesNotExist(key)
        return self.cell(column, self._rows[key][1])

    def refresh_relative(self) -> None:
        """Ages (`*_at` columns) change with the clock alone: draw again the rows on
        screen whose age now reads differently (an age in minutes changes once a minute;
        drawing every line each second cost more than DataTable's per-cell updates)."""
        ages = [i for i, c in enumerate(self._shown_columns) if c.key in self._relative]
        if not ages:
            return
        top, height = self._window()
        changed = []
        for key in self._order[top:top + height]:
            drawn = self._drawn.get(key)
            if drawn is None:
                continue  # not drawn since it changed: it is drawn fresh anyway
            row = self._rows[key][1]
            for i in ages:
                if not _same_look(drawn[i], formatted_cell(self.cell(self._shown_columns[i].key, row))):
                    changed.append(key)
                    break
        if not changed:
            return
        self._forget(changed)
        if self._auto_widths and self._widths_changed():  # "9s" became "10s" in the widest cell
            self._update_virtual_size()
            self.refresh()
        else:
            self._refresh_rows(changed)

    # -- which rows are on screen --------------------------------------------------

    def rows_on_screen(self) -> frozenset[str]:
        top, height = self._window()
        return frozenset(self._order[top:top + height])

    # -- the cursor -------------------------------------------------------------------

    def move_cursor(self, *, row: int | None = None, column: int | None = None,
                    animate: bool = False, scroll: bool = True) -> None:
        if row is None or not self._order:
            return
        row = max(0, min(row, len(self._order) - 1))
        old, self.cursor_row = self.cursor_row, row
        before, self._cursor_key = self._cursor_key, self._order[row]
        self._refresh_index(old)
        self._refresh_index(row)
        if scroll:
            self._scroll_cursor_into_view(animate=animate)
        if self._cursor_key != before:
            self.post_message(self.CursorMoved())

    def _refresh_index(self, index: int) -> None:
        if 0 <= index < len(self._order):
            self.refresh_line(index + self.header_height)

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        if not self._order:
            return
        if not self.size.height:  # not laid out yet: after the first layout
            self.call_after_refresh(self._scroll_cursor_into_view, animate)
            return
        width = max(self.size.width, self.virtual_size.width)
        region = Region(int(self.scroll_x), self.cursor_row + self.header_height, width, 1)
        self.scroll_to_region(region, animate=animate, spacing=Spacing(self.header_height, 0, 0, 0), force=True)

    def action_cursor_up(self) -> None:
        self._keyboard()
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._keyboard()
        self.move_cursor(row=self.cursor_row + 1)

    def action_cursor_top(self) -> None:
        self._keyboard()
        self.move_cursor(row=0)

    def action_cursor_bottom(self) -> None:
        self._keyboard()
        self.move_cursor(row=len(self._order) - 1)

    def action_page_down(self) -> None:
        self._keyboard()
        _, height = self._window()
        self.scroll_relative(y=height, animate=False, force=True)
        self.move_cursor(row=self.cursor_row + height, scroll=False)

    def action_page_up(self) -> None:
        self._keyboard()
        _, height = self._window()
        self.scroll_relative(y=-height, animate=False)
        self.move_cursor(row=self.cursor_row - height, scroll=False)

    def action_scroll_home(self) -> None:
        self._keyboard()
        self.scroll_x = 0

    def action_scroll_end(self) -> None:
        self._keyboard()
        self.scroll_x = self.max_scroll_x

    def _keyboard(self) -> None:
        """Keys hide the mouse's hover row, as in DataTable."""
        if self._show_hover:
            self._show_hover = False
            self._refresh_index(self.hover_row)

    # -- the mouse --------------------------------------------------------------------

    def _row_under(self, event: events.MouseEvent) -> int | None:
        """The row index under the mouse: -1 on the header, None off the rows. (DataTable
        reads it from each segment's style meta; a meta per line made every style unique.)"""
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        if offset.y < self.header_height:
            return -1
        index = offset.y - self.header_height + int(self.scroll_y)
        return index if index < len(self._order) else None

    def on_click(self, event: events.Click) -> None:
        row = self._row_under(event)
        if row is None or row < 0:
            return
        self._show_hover = True
        self.move_cursor(row=row, animate=True)
        event.stop()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        row = self._row_under(event)
        old = self.hover_row
        self._show_hover = row is not None
        if row is not None:
            self.hover_row = row
        self._refresh_index(old)
        self._refresh_index(self.hover_row)
        if -1 in (old, self.hover_row):
            self.refresh(Region(0, 0, self.size.width, self.header_height))  # the header

    def on_leave(self, _: events.Leave) -> None:
        self._show_hover = False
        self._refresh_index(self.hover_row)


    # -- drawing: DataTable's cells and styles, for the visible lines only ---------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._styled.clear()
        self._named.clear()
        self._lines.clear()
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pseudo = self.get_pseudo_class_state()
        self._base_style = self.rich_style  # once, not per line: it walks the DOM
        try:
            return super().render_lines(crop)
        finally:
            self._base_style = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self._base_style or self.rich_style
        if y < self.header_height:
            return self._strip(None, -1, scroll_x, width, base)
        index = y - self.header_height + scroll_y
        if index >= len(self._order):
            return Strip.blank(width, base)
        return self._strip(self._order[index], index, scroll_x, width, base)

    def _strip(self, key: str | None, index: int, scroll_x: int, width: int, base: Style) -> Strip:
        cursor = index == self.cursor_row
        hover = self._show_hover and index == self.hover_row
        first = key is None or self._first_of_group(index)
        look = (index, cursor, hover, scroll_x, width, base, self._pseudo, first)
        lines = self._lines.setdefault(key, {}) if key is not None else self._lines.setdefault("\x00header", {})
        strip = lines.get(look)
        if strip is None:
            segments = self._row_segments(key, index, cursor, hover, width, first)
            if scroll_x == 0 and sum(self._widths()) <= width:  # the line is the width already
                strip = Strip(segments, width)
            else:
                strip = Strip(line_crop(segments, scroll_x, scroll_x + width, width))
                strip = strip.adjust_cell_length(width, base).simplify()
            if len(lines) > 8:
                lines.clear()
            lines[look] = strip
        return strip

    def _row_segments(self, key: str | None, index: int, cursor: bool, hover: bool, width: int,
                      first: bool = True) -> list[Segment]:
        header = key is None
        if header:
            cells = [Text.from_markup(c.title) for c in self._shown_columns]
            row_style = self.get_component_styles("datatable--header").rich_style
        else:
            cells = self._drawn.get(key)
            if cells is None:
                row = self._rows[key][1]
                cells = self._drawn[key] = [formatted_cell(self.cell(c.key, row)) for c in self._shown_columns]
            cells = self._grouped(cells, first, EMPTY_TEXT)
            row_style = self._row_style(index)
        component, post = self._cell_styles(header, hover, cursor)
        pre = row_style + component
        if len(self._styled) > 64:
            self._styled.clear()
        combined = self._styled.setdefault((pre, post), {})  # id(cell's style) -> (it, DataTable's layers)
        if len(combined) > 4096:
            combined.clear()
        widths = self._widths()
        segments = cell_segments(cells, widths, pre, post, combined, self._style_of,
                                 self.app.console, self.app.console_options)
        extend, _ = self._cell_styles(header, hover, cursor, priorities=False)
        segments.append(Segment(" " * max(0, width - sum(widths)), row_style + extend))
        return segments

    def _style_of(self, name: str | Style) -> Style:
        """A cell's style by name (`"dim"`, `"bold red"`), as the console reads it, cached."""
        if not isinstance(name, str):
            return name
        style = self._named.get(name)
        if style is None:
            style = self._named[name] = self.app.console.get_style(name, default=NULL_STYLE)
        return style

    def _row_style(self, index: int) -> Style:
        name = "datatable--odd-row" if index % 2 else "datatable--even-row"  # zebra stripes
        style = self._styles.get((name, self._pseudo))
        if style is None:
            style = self._styles[(name, self._pseudo)] = self.get_component_styles(name).rich_style
        return style

    def _cell_styles(self, header: bool, hover: bool, cursor: bool, priorities: bool = True) -> tuple[Style, Style]:
        """DataTable's component style of a cell, and the style laid over it (the
        cursor's foreground wins over the cell's; the cell's background wins)."""
        cache_key = (header, hover, cursor, priorities, self._show_hover, self._pseudo)
        found = self._styles.get(cache_key)
        if found is not None:
            return found
        get = self.get_component_rich_style
        component = Style()
        if hover and self._show_hover:
            component += get("datatable--hover")
            if header:
                component += get("datatable--header-hover")
        if cursor:
            component += get("datatable--cursor")
            if header:
                component += get("datatable--header-cursor")
        post = Style.from_color(color=component.color) if priorities else Style.null()
        post += Style.null()
        self._styles[cache_key] = found = (component, post)
        return found


class SortableLineTable(SortActions, LineTable):
    """`s` sorts by the next column, `S` reverses; the cursor stays on its row."""

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort", id="sort.cycle", tooltip="Sort by the next column"),
        Binding("S", "reverse_sort", "Reverse", id="sort.reverse", tooltip="Reverse the sort order", show=False),
    ]

    def _resort(self) -> None:
        self._layout()
        self._check_on_screen_soon()


def line_body(spec: PaneSpec, actions: Iterable[Action], id: str | None = None, **kwargs) -> LineTable:
    """The default pane body: a LineTable with the pane's action keys."""
    return table_class_for(spec, actions, LineTable)(spec, id=id, **kwargs)


def sortable_line_body(default_sort: str | None, *mixins: type):
    """A pane-body factory: a SortableLineTable with the pane's action keys (and any
    mixins first, e.g. one that draws cells its own way)."""

    def factory(spec: PaneSpec, actions: Iterable[Action], id: str | None = None, **kwargs) -> LineTable:
        base = table_class_for(spec, actions, LineTable)  # the action keys on a base, `s`/`S` on top
        name = base.__name__.replace("LineTable", "SortableLineTable")
        cls = type(name, (*mixins, SortableLineTable, base), {"DEFAULT_SORT": default_sort})
        return cls(spec, id=id, **kwargs)

    return factory
