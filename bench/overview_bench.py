"""Overview benchmarks (issue 13): what one refresh of the overview costs at 256 GPUs,
10,000 SLURM jobs and 500 router workers: deriving attention, blocks and the joined
view from the snapshots (Textual-free), and the widget update on a mounted overview.

    .venv/bin/python bench/run.py --only overview_render
"""

from __future__ import annotations

import asyncio
import statistics
import time

GPUS, JOBS, WORKERS = 256, 10_000, 500


def fleet_snapshots(now: float, tick: int = 0) -> dict:
    from servedeck.backends.base import BackendState, Health, Snapshot
    from servedeck.backends.metrics.model import GpuRow, ServingRow
    from servedeck.backends.rows import JobRow, WorkerRow

    gpus = tuple(GpuRow(f"gpu{i // 8:03d}", str(i % 8), f"GPU-{i}", "H100", float((i * 7 + tick) % 100), 40_000, 80_000,
                        60 + i % 30, 300, False, id=f"gpu{i // 8:03d}/{i % 8}", xid_errors=79 if i == 17 else 0,
                        used_by=f"job {100000 + i // 8}", levels=(("temp_c", "crit" if i % 50 == 0 else "ok"),))
                 for i in range(GPUS))
    # the first WORKERS jobs serve (a port in their comment, a router entry each); the rest are batch work
    jobs = tuple(JobRow("cl", str(100000 + i), f"sglang-{i}", f"u{i % 40}",
                        "RUNNING" if i % 3 or i < WORKERS else "PENDING", "gpu",
                        f"gpu{i % 300:03d}" if i % 3 or i < WORKERS else "", 60 + tick, None,
                        "None" if i % 3 or i < WORKERS else "Priority", 1,
                        port=30000 + i if i < WORKERS else None) for i in range(JOBS))
    workers = tuple(WorkerRow("rt", f"http://gpu{i % 300:03d}:{30000 + i}", f"http://gpu{i % 300:03d}:{30000 + i}",
                              i % 97 != 0, (i + tick) % 8, "model") for i in range(WORKERS))
    serving = tuple(ServingRow(f"gpu{i % 300:03d}:{30000 + i}", "model", (i + tick) % 8, 0, 100.0, 0.5, 0.02, 0.1, 0.01)
                    for i in range(WORKERS))
    ok = BackendState(Health.OK, since=now - 100)
    return {
        "prom": Snapshot("prom", "prometheus", ok, now, {"gpus": gpus, "serving": serving}),
        "cl": Snapshot("cl", "slurm", ok, now, {"jobs": jobs}),
        "rt": Snapshot("rt", "router", ok, now, {"workers": workers}),
    }


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 4)


def derive_times(repeat: int) -> dict:
    from servedeck.overview.attention import Attention
    from servedeck.overview.blocks import blocks, gpu_hosts
    from servedeck.overview.joined import endpoints

    attention = Attention()
    now = time.time()
    parts: dict[str, list[float]] = {"attention": [], "blocks": [], "joined_view": []}
    for tick in range(repeat):
        snaps = fleet_snapshots(now, tick)
        started = time.perf_counter()
        attention.items(snaps, now)
        parts["attention"].append(time.perf_counter() - started)
        started = time.perf_counter()
        blocks(snaps), gpu_hosts(snaps)
        parts["blocks"].append(time.perf_counter() - started)
        started = time.perf_counter()
        endpoints(snaps)
        parts["joined_view"].append(time.perf_counter() - started)
    return {f"{k}_median_s": _median(v) for k, v in parts.items()}


async def _widget_times(repeat: int) -> dict:
    from textual.app import App, ComposeResult

    from servedeck.widgets.panes.overview import OVERVIEW_PANE, OverviewBody

    class Bench(App):
        def compose(self) -> ComposeResult:
            yield OverviewBody(OVERVIEW_PANE, id="overview")

    now = time.time()
    fed = {"gpus", "serving", "jobs", "workers"}
    samples = []
    app = Bench()
    async with app.run_test(size=(200, 50)) as pilot:
        body = app.query_one(OverviewBody)
        for tick in range(repeat + 1):
            snaps = fleet_snapshots(now, tick)
            started = time.perf_counter()
            body.show_snapshots(snaps, now, fed=fed)
            await pilot.pause()  # the layout and paint the update asked for
            samples.append(time.perf_counter() - started)
    return {"first_s": round(samples[0], 4), "refresh_median_s": _median(samples[1:]), "samples": [round(s, 4) for s in samples]}


def measure_overview_render(config, repeat: int) -> dict:
    return {"gpus": GPUS, "jobs": JOBS, "workers": WORKERS, "derive": derive_times(max(repeat, 3)),
            "widget": asyncio.run(_widget_times(max(repeat, 3)))}


MEASURES = {"overview_render": measure_overview_render}
