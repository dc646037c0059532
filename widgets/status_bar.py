"""The top bar: every configured backend and its state, plus the cockpit's own mode."""

from __future__ import annotations

import time
from typing import Mapping

from rich.text import Text
from textual.widgets import Static

from servedeck.backends.base import Health, Snapshot
from servedeck.widgets.cells import human_duration
from servedeck.text import safe

HEALTH_GLYPH = {
    Health.OK: ("●", "green"),
    Health.DEGRADED: ("◐", "yellow"),
    Health.DOWN: ("○", "bold red"),
    Health.UNKNOWN: ("·", "dim"),
}


def render_states(
    snapshots: Mapping[str, Snapshot], *, paused: bool, readonly: bool, now: float | None = None,
    width: int | None = None,
) -> Text:
    """Every backend by name; when that does not fit `width`, the healthy ones collapse
    into a count so that every problem is still named (an 80-column SSH session)."""
    now = now or time.time()
    text = Text()
    text.append(" servedeck ", style="bold reverse")
    if readonly:
        text.append(" READ-ONLY ", style="bold black on yellow")
    if paused:
        text.append(" PAUSED ", style="bold black on cyan")
    if not snapshots:
        text.append("  no backends configured", style="dim")
        return text
    full = text.copy()
    for snap in snapshots.values():
        _append_backend(full, snap, now, kind=True)
    if width is None or full.cell_len <= width:
        return full
    healthy = [s for s in snapshots.values() if s.state.health is Health.OK]
    if healthy:
        glyph, style = HEALTH_GLYPH[Health.OK]
        text.append("  ")
        text.append(glyph, style=style)
        text.append(f" {len(healthy)} ok", style="bold")
    for snap in snapshots.values():
        if snap.state.health is not Health.OK:
            _append_backend(text, snap, now, kind=False)
    return text


def _append_backend(text: Text, snap: Snapshot, now: float, *, kind: bool) -> None:
    glyph, style = HEALTH_GLYPH[snap.state.health]
    text.append("  ")
    text.append(glyph, style=style)
    text.append(f" {safe(snap.backend)}", style="bold")
    if kind:
        text.append(f" {snap.kind}", style="dim")
    if snap.state.health is Health.DOWN:
        text.append(f" down {human_duration(now - snap.state.since)}", style=style)
    elif snap.state.health is Health.DEGRADED:
        text.append(" degraded", style=style)


class BackendStatusBar(Static):
    """Re-rendered whenever a snapshot arrives, the mode changes or the width changes;
    redrawn only when what it says changed (the 1 s tick mostly changes nothing).
    A click on it opens the Backends pane."""

    DEFAULT_CSS = ""
    _shown: tuple | None = None
    _said: tuple | None = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._last: tuple | None = None

    def show(self, snapshots: Mapping[str, Snapshot], *, paused: bool, readonly: bool, now: float) -> None:
        self._last = (snapshots, paused, readonly, now)
        self._render_last()

    def _render_last(self) -> None:
        if self._last is None:
            return
        snapshots, paused, readonly, now = self._last
        said = (paused, readonly, self.size.width, tuple(  # what the bar depends on, cheaply
            (s.backend, s.kind, s.state.health, int(now - s.state.since) if s.state.health is Health.DOWN else 0)
            for s in snapshots.values()))
        if said == self._said:
            return  # a poll that changed no state (most of them): nothing to draw
        self._said = said
        text = render_states(snapshots, paused=paused, readonly=readonly, now=now, width=self.size.width or None)
        key = (text.plain, tuple(text.spans))
        if key != self._shown:
            self._shown = key
            self.update(text, layout=False)  # one line, full width (styles): its size never changes

    def on_resize(self) -> None:
        self._render_last()

    def on_click(self) -> None:
        show = getattr(self.app, "show_pane", None)
        if show is not None and "backends" in getattr(self.app, "specs", {}):
            show("backends")
