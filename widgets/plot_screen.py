"""A full-screen time-series plot of one GPU, node, instance or router.

Opened by the plot action's follow-up (`PlotRequest`). Keys 1-4 pick the window (5m,
15m, 1h, 6h); the new data is fetched by the backend's own `fetch` in a thread worker,
so the screen never talks to Prometheus itself. Drawing is textual-plotext's.
"""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from servedeck.backends.base import BackendError
from servedeck.backends.metrics.panes import PlotRequest
from servedeck.text import safe
from servedeck.widgets.cells import human_duration


def window_label(seconds: float) -> str:
    return human_duration(seconds).replace("m00s", "m").replace("h00m", "h")


class PlotScreen(Screen[None]):
    """Series of one row over a selectable window."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="plot.close"),
        *[Binding(str(i + 1), f"window({i})", f"Window {i + 1}", show=False, id=f"plot.window.{i + 1}")
          for i in range(4)],
        Binding("r", "reload", "Reload", id="plot.reload"),
    ]
    DEFAULT_CSS = """
    PlotScreen { layout: vertical; }
    PlotScreen #plot-header { height: 1; padding: 0 1; background: $panel; }
    PlotScreen PlotextPlot { height: 1fr; }
    """

    def __init__(self, request: PlotRequest):
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        yield Static(id="plot-header")
        yield PlotextPlot(id="plot")
        yield Footer()

    def on_mount(self) -> None:
        self.show(self.request)

    def show(self, request: PlotRequest) -> None:
        """Draw a request's series; x is minutes before now."""
        self.request = request
        windows = "  ".join(
            f"[reverse]{i + 1} {window_label(w)}[/reverse]" if w == request.window_s else f"{i + 1} {window_label(w)}"
            for i, w in enumerate(request.windows_s[:4])
        )
        note = f"  │  [dim]{safe(request.note)}[/dim]" if request.note else ""
        self.query_one("#plot-header", Static).update(f"[b]{safe(request.title)}[/b]  │  {windows}{note}")
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        now = time.time()
        drawn = 0
        for series in request.series:
            shown = [(t, v) for t, v in series.points if now - t <= request.window_s]
            if not shown:  # plotext cannot draw a legend for a series with nothing in view
                continue
            xs = [(t - now) / 60.0 for t, _ in shown]
            ys = [v for _, v in shown]
            plt.plot(xs, ys, label=series.name, marker="braille")
            drawn += 1
        plt.xlabel("minutes ago")
        plt.xlim(-request.window_s / 60.0, 0)
        plt.title("no data in this window" if not drawn else "")
        widget.refresh()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_window(self, index: int) -> None:
        if index < len(self.request.windows_s):
            self._fetch(self.request.windows_s[index])

    def action_reload(self) -> None:
        self._fetch(self.request.window_s)

    def _fetch(self, window_s: float) -> None:
        fetch = self.request.fetch
        if fetch is None:
            self.notify("this plot cannot be fetched again", severity="warning")
            return

        def work() -> None:
            try:
                plot = fetch(window_s)
            except BackendError as exc:
                self.app.call_from_thread(self.notify, safe(exc.message), severity="error")
                return
            self.app.call_from_thread(self.show, plot)

        self.run_worker(work, thread=True, exclusive=True, group="plot fetch", exit_on_error=False)


def open_plot(app: Any, request: PlotRequest) -> None:
    """FOLLOW_UPS handler: push the plot screen for a PlotRequest."""
    app.push_screen(PlotScreen(request))
