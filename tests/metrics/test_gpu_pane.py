"""The GPU pane in the cockpit: grouped by host, threshold-coloured bars, sparklines,
and the plot action opening a plot screen whose window keys re-fetch."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from rich.text import Text

from servedeck.app.main_app import ServedeckApp
from servedeck.backends.base import ActionResult, Backend
from servedeck.backends.fleet import Fleet
from servedeck.backends.metrics.build import build_gpus
from servedeck.backends.metrics.panes import (
    GPUS, PLOT_ACTIONS, GaugeSettings, PlotRequest, PlotSeries, Threshold,
)
from servedeck.backends.metrics.scrape import parse_page
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text
from servedeck.lab.standin_dcgm import GpuFleet
from servedeck.widgets.plot_screen import PlotScreen

SETTINGS = GaugeSettings(name="gauges", interval=0.2, gpu_thresholds={"util": Threshold(warn=50, crit=90)},
                         colors={"ok": "green", "warn": "yellow", "crit": "magenta"})


def gpu_rows() -> tuple:
    rows = []
    for host, util in (("host-b", 95.0), ("host-a", 20.0)):
        fleet = GpuFleet(2, host, [], idle_util=util)
        fleet.step()
        rows += build_gpus(parse_page(fleet.render(), f"{host}:9400", 0.0).samples, style=SETTINGS.gpu_style())
    return tuple(replace(r, history=(0.0, 50.0, 100.0)) for r in rows)


class GaugeBackend(Backend):
    """A real Backend over fixed rows, counting the plot fetches it answers."""

    kind = "gauges"
    panes = (GPUS,)
    actions = PLOT_ACTIONS

    def __init__(self, settings, context=None):
        super().__init__(settings, context)
        self.fetched: list[float] = []

    def poll(self, wanted):
        return {"gpus": gpu_rows()} if "gpus" in wanted else {}

    def plot(self, row, window_s: float) -> PlotRequest:
        self.fetched.append(window_s)
        return PlotRequest(f"GPU {row.gpu} on {row.host}", (PlotSeries("util %", ((time.time() - 60, 1.0), (time.time(), 2.0))),),
                           window_s, fetch=lambda w: self.plot(row, w))

    def perform(self, action_id, row, value=None):
        return ActionResult(True, "plot", follow_up=self.plot(row, 900))


async def wait_for(pilot, predicate, timeout: float = 5.0) -> None:
    """Wait for the app to reach a state, polling the UI loop (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await pilot.pause(0.05)


def make_app():
    backend = GaugeBackend(SETTINGS)
    app = ServedeckApp(load_text("ui: {start_pane: gpus}\n", "t.yaml"), fleet=Fleet([BackendRunner(backend)]))
    return app, backend


async def test_gpu_rows_grouped_by_host_with_threshold_coloured_bars():
    app, _ = make_app()
    async with app.run_test(size=(190, 30)) as pilot:
        table = app.query_one("#table-gpus")
        await wait_for(pilot, lambda: table.row_count == 4)
        cols = [c.key for c in GPUS.columns]
        cells = [table.get_row_at(i) for i in range(4)]
        hosts = [str(c[cols.index("host")]) for c in cells]
        assert hosts == ["host-a", "", "host-b", ""]  # sorted by host, host on its first row only
        util = [c[cols.index("util_percent")] for c in cells]
        assert all(isinstance(u, Text) and "█" in u.plain for u in util)
        assert "20%" in util[0].plain and "95%" in util[2].plain
        assert util[0].spans[0].style == "green" and util[2].spans[0].style == "magenta"  # ok / crit colours
        spark = cells[0][cols.index("history")]
        assert spark.plain == "▁▅█"  # 0 %, 50 %, 100 % on a 0-100 scale of 8 blocks


async def test_plot_key_opens_a_plot_whose_window_keys_refetch():
    app, backend = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one("#table-gpus")
        await wait_for(pilot, lambda: table.row_count == 4)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, PlotScreen))
        assert app.screen.request.title == "GPU 0 on host-a"
        await pilot.press("1")  # 5 minutes
        await wait_for(pilot, lambda: app.screen.request.window_s == 300)
        assert backend.fetched == [900, 300]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PlotScreen))
        assert app.current_pane == "gpus"
