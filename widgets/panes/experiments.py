"""The Experiments pane's plot: score (or a metric) against one tuning parameter.

Opened by the pane's `g` action, whose follow-up is a `ScatterRequest` the tuner backend
built from its last status; `widgets/scatter_screen.py` draws it (textual-plotext, loaded
on the first plot, not at start).
"""

from __future__ import annotations

from typing import Any

from servedeck.backends.tuner.plot import ScatterRequest


def open_scatter(app: Any, request: ScatterRequest) -> None:
    """FOLLOW_UPS handler: push the scatter screen."""
    from servedeck.widgets.scatter_screen import ScatterScreen

    app.push_screen(ScatterScreen(request))


def __getattr__(name: str) -> Any:
    if name == "ScatterScreen":  # where it used to live
        from servedeck.widgets.scatter_screen import ScatterScreen

        return ScatterScreen
    raise AttributeError(name)


FOLLOW_UPS = {ScatterRequest: open_scatter}
