"""A headless app around one pane body, and the body's lines as plain runs: shared by the
tests that check a pane table draws what the DataTable-based table drew."""

from __future__ import annotations

from typing import Callable, Iterable

from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.geometry import Region

from servedeck.backends.base import Action, PaneSpec
from servedeck.widgets.resource_table import ResourceTable


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
