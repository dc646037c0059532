"""The run-manifests pane: helper-container runs over the selected run's details.

The table says at a glance which run is current and whether each is valid for
benchmarking (no warnings); the panel under it explains every warning from the seed's
taxonomy (unknown ones are flagged, never dropped) and lists surfaces, profile caches,
storage roots and paths. Unreadable manifests show their state and why.
"""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from servedeck.backends.base import Action, PaneSpec
from servedeck.backends.runs.rows import describe
from servedeck.text import safe, strip_control
from servedeck.widgets.cells import render_cell
from servedeck.widgets.line_table import LineTable
from servedeck.widgets.resource_table import table_class_for

STATE_STYLES = {"current": "bold green", "history": "", "malformed": "bold red", "half-written": "yellow",
                "missing": "bold red", "unreadable": "bold red"}
LINE_STYLES = (("VALID FOR", "bold green"), ("NOT VALID", "bold red"), ("  ? UNKNOWN", "bold magenta"),
               ("  ! ", "yellow"), ("Manifest ", "bold red"), ("Run ", "bold"))


def run_cell(column: str, row: Any) -> Any:
    """State and validity get their own colours; everything else renders as usual."""
    value = getattr(row, column, None)
    if column == "state":
        return Text(safe(value), style=STATE_STYLES.get(str(value), "yellow"))
    if column == "valid":
        style = {"yes": "bold green", "no": "bold red"}.get(str(value), "yellow")
        return Text(str(value), style=style)
    if column == "container_state" and value:
        style = {"running": "green", "absent": "dim"}.get(str(value), "bold red")
        return Text(safe(value), style=style)
    if column == "warnings_text" and value:
        return Text(safe(value, 200), style="yellow")
    return render_cell(column, value)


class RunsTable(LineTable):
    """The table part: a line table whose state and validity cells are coloured (rows
    arrive current run first, then history newest first; the table keeps that order)."""

    def cell(self, column: str, row: Any) -> Any:
        return run_cell(column, row)


def details_text(entry: tuple[str, Any] | None) -> Text:
    if entry is None:
        return Text("No run selected. S starts the helper container; its run appears here.", style="dim")
    backend, row = entry
    out = Text()
    for line in describe(row).splitlines():
        style = next((s for prefix, s in LINE_STYLES if line.startswith(prefix)), "")
        out.append(strip_control(line) + "\n", style=style)
    out.append(f"(backend {safe(backend)})", style="dim")
    return out


class ContainerRunsBody(Vertical):
    """The pane body: wraps a RunsTable (which holds focus and the action keys) and
    forwards the ResourceTable surface to it."""

    DEFAULT_CSS = """
    ContainerRunsBody { height: 1fr; }
    ContainerRunsBody > RunsTable { height: 1fr; }
    ContainerRunsBody > #run-details-scroll { height: 45%; border-top: solid $accent; padding: 0 1; }
    """

    table_cls: type[RunsTable] = RunsTable

    def __init__(self, spec: PaneSpec, **kwargs):
        super().__init__(**kwargs)
        self.table = self.table_cls(spec, id=f"{self.id}-rows" if self.id else None)
        self._details_shown: tuple | None = None  # (text, spans) the details panel shows

    def compose(self) -> ComposeResult:
        yield self.table
        with VerticalScroll(id="run-details-scroll"):
            yield Static(details_text(None), id="run-details")

    # -- the ResourceTable surface --------------------------------------------------------
    @property
    def spec(self) -> PaneSpec:
        return self.table.spec

    @property
    def pane_actions(self) -> tuple[Action, ...]:
        return self.table.pane_actions

    @property
    def filter_text(self) -> str:
        return self.table.filter_text

    @property
    def shown_count(self) -> int:
        return self.table.shown_count

    @property
    def total_count(self) -> int:
        return self.table.total_count

    def show(self, entries: Iterable[tuple[str, Any]]) -> None:
        self.table.show(entries)
        self._show_details()

    def set_filter(self, text: str) -> None:
        self.table.set_filter(text)
        self._show_details()

    def selected(self) -> tuple[str, Any] | None:
        return self.table.selected()

    def refresh_relative(self) -> None:
        self.table.refresh_relative()

    def focus(self, scroll_visible: bool = True):
        self.table.focus(scroll_visible)
        return self

    # -- details ------------------------------------------------------------------------
    def on_line_table_cursor_moved(self, event: LineTable.CursorMoved) -> None:
        self._show_details()  # and on to the app, for the footer

    def _show_details(self) -> None:
        """Only when the text changed: an update lays the whole screen out again, and
        every poll shows the runs anew."""
        if not self.is_mounted:
            return
        text = details_text(self.table.selected())
        key = (text.plain, tuple(text.spans))
        if key != self._details_shown:
            self._details_shown = key
            self.query_one("#run-details", Static).update(text)

    @property
    def details(self) -> str:
        """The details panel's text as drawn."""
        return str(self.query_one("#run-details", Static).content)


def make_container_runs_body(spec: PaneSpec, actions: tuple[Action, ...], **kwargs) -> ContainerRunsBody:
    table_cls = table_class_for(spec, actions, RunsTable)
    body_cls = type("ContainerRunsPane", (ContainerRunsBody,), {"BINDINGS": table_cls.BINDINGS, "table_cls": table_cls})
    return body_cls(spec, **kwargs)


PANE_BODIES = {"container_runs": make_container_runs_body}
