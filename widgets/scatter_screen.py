"""The Experiments pane's plot screen: score (or a metric) against one tuning parameter.

Drawn with textual-plotext, which (with plotext) is imported only when a plot opens, not
before the cockpit's first frame. The best experiment is marked; failed ones are drawn on
the x axis as crosses.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from servedeck.backends.tuner.plot import ScatterRequest
from servedeck.text import safe


class ScatterScreen(Screen[None]):
    BINDINGS = [Binding("escape,q", "close", "Close", id="scatter.close")]
    DEFAULT_CSS = """
    ScatterScreen { layout: vertical; }
    ScatterScreen #scatter-header { height: 1; padding: 0 1; background: $panel; }
    ScatterScreen PlotextPlot { height: 1fr; }
    """

    def __init__(self, request: ScatterRequest):
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        yield Static(id="scatter-header")
        yield PlotextPlot(id="scatter")
        yield Footer()

    def on_mount(self) -> None:
        r = self.request
        best = next(((x, y) for x, y, i in r.points if i == r.best_id), None)
        note = f"  │  best exp{r.best_id}" if best else ""
        failed = f"  │  {len(r.failed)} failed (x on the axis)" if r.failed else ""
        self.query_one("#scatter-header", Static).update(f"[b]{safe(r.title)}[/b]{note}{failed}")
        plt = self.query_one(PlotextPlot).plt
        plt.clear_data()
        plt.clear_figure()
        others = [(x, y) for x, y, i in r.points if i != r.best_id]
        if others:
            plt.scatter([x for x, _ in others], [y for _, y in others], marker="dot", label="experiments")
        if best:
            plt.scatter([best[0]], [best[1]], marker="@", color="green", label=f"best (exp{r.best_id})")
        if r.failed:
            floor = min((y for _, y, _ in r.points), default=0.0)
            plt.scatter([x for x, _ in r.failed], [floor] * len(r.failed), marker="x", color="red", label="failed")
        if r.x_ticks:
            plt.xticks([x for x, _ in r.x_ticks], [label for _, label in r.x_ticks])
        plt.xlabel(r.x_label)
        plt.ylabel(r.y_label)
        plt.title("" if r.points or r.failed else "no experiment has this parameter yet")

    def action_close(self) -> None:
        self.dismiss(None)

