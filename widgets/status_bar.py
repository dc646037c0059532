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
    snapshots: Mapping[str, Snapshot], *, paused: bool, readonly: bool, now: float | None = None
) -> Text:
    now = now or time.time()
    text = Text()
    text.append(" servedeck ", style="bold reverse")
    if readonly:
        text.append(" READ-ONLY ", style="bold black on yellow")
    if paused:
        text.append(" PAUSED ", style="bold black on cyan")
    for snap in snapshots.values():
        glyph, style = HEALTH_GLYPH[snap.state.health]
        text.append("  ")
        text.append(glyph, style=style)
        text.append(f" {safe(snap.backend)}", style="bold")
        text.append(f" {snap.kind}", style="dim")
        if snap.state.health is Health.DOWN:
            text.append(f" down {human_duration(now - snap.state.since)}", style=style)
        elif snap.state.health is Health.DEGRADED:
            text.append(" degraded", style=style)
    if not snapshots:
        text.append("  no backends configured", style="dim")
    return text


class BackendStatusBar(Static):
    """Re-rendered whenever a snapshot arrives or the mode changes; redrawn only when
    what it says changed (the 1 s tick mostly changes nothing)."""

    DEFAULT_CSS = ""
    _shown: tuple | None = None

    def show(self, snapshots: Mapping[str, Snapshot], *, paused: bool, readonly: bool, now: float) -> None:
        text = render_states(snapshots, paused=paused, readonly=readonly, now=now)
        key = (text.plain, tuple(text.spans))
        if key != self._shown:
            self._shown = key
            self.update(text)
