"""The nodes, serving and router-metrics panes in the cockpit: bars, milliseconds,
and rows whose source went away marked down with the age of their last values."""

from __future__ import annotations

from dataclasses import replace

from servedeck.app.main_app import ServedeckApp
from servedeck.backends.base import Backend, BackendSettings
from servedeck.backends.fleet import Fleet
from servedeck.backends.metrics.model import NodeRow, RouterRow, ServingRow
from servedeck.backends.metrics.panes import NODES, PLOT_ACTIONS, ROUTERS, SERVING
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text

from .test_gpu_pane import wait_for

NODE = NodeRow(host="gpu-a", cpu_percent=62.0, mem_used_bytes=3 * 2**30, mem_total_bytes=12 * 2**30, load1=1.5,
               instance="10.0.0.1:9100", history=(10.0, 62.0))
SERVING_ROW = ServingRow(instance="10.0.0.1:30000", model="llama", running_reqs=3.0, queued_reqs=1.0,
                         gen_throughput=812.5, token_usage=0.5, ttft_p50_s=0.0421, ttft_p99_s=0.25,
                         tpot_p50_s=0.012, request_rate=4.0)
ROUTER = RouterRow(instance="10.0.0.1:29001", generation="smg", workers_healthy=1, workers_total=2,
                   pool_size=2, breakers_open=1, request_rate=3.5)


class Fixed(Backend):
    kind = "fixed"
    panes = (NODES, SERVING, ROUTERS)
    actions = PLOT_ACTIONS

    def poll(self, wanted):
        return {"nodes": (NODE, replace(NODE, host="gpu-b", instance="10.0.0.2:9100", stale=True,
                                        state="down", age_s=42.0)),
                "serving": (SERVING_ROW,), "routers": (ROUTER,)}


async def test_nodes_serving_and_routers_panes_draw_gauges():
    app = ServedeckApp(load_text("ui: {start_pane: nodes}\n", "t.yaml"),
                       fleet=Fleet([BackendRunner(Fixed(BackendSettings(name="fixed", interval=0.2)))]))
    async with app.run_test(size=(200, 30)) as pilot:
        nodes = app.query_one("#table-nodes")
        await wait_for(pilot, lambda: nodes.row_count == 2)
        cols = [c.key for c in NODES.columns]
        first, second = nodes.get_row_at(0), nodes.get_row_at(1)
        assert "█████░░░  62%" in first[cols.index("cpu_percent")].plain
        assert "3.0GiB/12.0GiB" in first[cols.index("mem_percent")].plain
        assert first[cols.index("state")].plain == "ok" and second[cols.index("state")].plain == "down 42s"

        app.show_pane("serving")
        serving = app.query_one("#table-serving")
        await wait_for(pilot, lambda: serving.row_count == 1)
        row = [str(c) for c in serving.get_row_at(0)]
        cols = [c.key for c in SERVING.columns]
        assert row[cols.index("ttft_p50_ms")] == "42ms" and row[cols.index("ttft_p99_ms")] == "250ms"
        assert row[cols.index("running_reqs")] == "3" and "50%" in row[cols.index("token_usage")]

        app.show_pane("routers")
        routers = app.query_one("#table-routers")
        await wait_for(pilot, lambda: routers.row_count == 1)
        row = [str(c) for c in routers.get_row_at(0)]
        cols = [c.key for c in ROUTERS.columns]
        assert (row[cols.index("workers_healthy")], row[cols.index("breakers_open")]) == ("1", "1")
