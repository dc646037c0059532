"""Overview benchmarks (issue 13): what one refresh of the overview costs at 256 GPUs,
10,000 SLURM jobs and 500 router workers (with tunnels, deployments and every later
system's pane beside them, so each block is drawn): deriving attention, blocks, the
joined view and the event feed's diff from the snapshots (Textual-free), and the widget
update on a mounted overview; and the overview's first frame at that scale vs a minimal
Textual app, in the same pty, interleaved.

    .venv/bin/python bench/run.py --only overview_render overview_first_frame
    .venv/bin/python bench/overview_bench.py          # both, without a lab
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
        **later_snapshots(now, tick),
    }


TUNNELS, DEPLOYMENTS = 50, 4  # workers reached through -L tunnels; orchestrator deployments of them
COMPOSE_PROJECTS, PYLET_WORKERS, PYLET_INSTANCES, BUILDS, EXPERIMENTS = 20, 16, 200, 30, 100


def later_snapshots(now: float, tick: int = 0) -> dict:
    """Tunnels, deployments and the later systems' panes (Compose, Pylet, sllm, Dynamo,
    the autotuner), a few faults in each, some states moving with `tick`."""
    from servedeck.backends.base import BackendState, Health, Snapshot
    from servedeck.backends.compose.rows import ComposeRow
    from servedeck.backends.dynamo.rows import BuildRow
    from servedeck.backends.orchestrator.backend import DeploymentRow
    from servedeck.backends.pylet.rows import PyletInstanceRow, PyletWorkerRow
    from servedeck.backends.rows import TunnelRow
    from servedeck.backends.sllm.rows import SllmHeadRow
    from servedeck.backends.tuner.backend import ExperimentRow

    ok = BackendState(Health.OK, since=now - 100)
    tunnels = tuple(TunnelRow(f"t{i}", "local", "login", f"127.0.0.1:{40000 + i}", f"gpu{i % 300:03d}:{30000 + i}",
                              "down" if (i + tick) % 25 == 0 else "up", 1, 1000 * i, 500 * i, "", now - 60)
                    for i in range(TUNNELS))
    deps = []
    for d in range(DEPLOYMENTS):
        deps.append(DeploymentRow(f"dep{d}", f"dep{d}", "", 8, 8 - (d + tick) % 2, 0, "", "", None, "tunneled-local",
                                  "", None, "8/8 ready", None, ""))
        deps += [DeploymentRow(f"dep{d}/w{w}", f"dep{d}", f"w{w}", None, None, None, str(200000 + 8 * d + w),
                               f"gpu{w:03d}", 31000 + w, f"t{w}", "3 ok", True, "ready", now - 30, "")
                 for w in range(8)]
    compose = []
    for p in range(COMPOSE_PROJECTS):
        compose.append(ComposeRow(f"p{p}", "project", "docker", f"p{p}", "", "", "running 2/3", "", "", "", None, None,
                                  "", 0, (), ""))
        for n, (state, health) in enumerate([("running", "healthy"), ("running", "unhealthy" if p % 7 == 0 else "healthy"),
                                             ("exited" if (p + tick) % 5 == 0 else "running", "")]):
            compose.append(ComposeRow(f"p{p}/s{n}/c", "service", "docker", f"p{p}", f"s{n}", f"p{p}-s{n}-1", state, health,
                                      "img", "", now - 100, 1 if state == "exited" else None, "", n, (), ""))
    pylet_workers = tuple(PyletWorkerRow("pylet", f"w{i:08d}", f"host{i}", "OFFLINE" if i == 3 else "ONLINE", "2/8", 8, 2,
                                         (0, 1), 32.0, 2**36, now - 2, 10) for i in range(PYLET_WORKERS))
    statuses = ("RUNNING", "RUNNING", "RUNNING", "PENDING", "FAILED" if tick % 2 else "RUNNING")
    instances = tuple(PyletInstanceRow("pylet", f"i{i:08d}", f"inst-{i}", statuses[i % 5], statuses[i % 5], "type=inference",
                                       f"w{i % PYLET_WORKERS:08d}", (i % 8,), f"host:{16000 + i}", None, "", 10.0)
                      for i in range(PYLET_INSTANCES))
    heads = (SllmHeadRow("sllm", "http://head:8343", "ok", "1.0", tick % 2 == 0, 20, PYLET_WORKERS),)
    builds = tuple(BuildRow(f"b{i}", "docker", f"inv{i // 3}", f"{i % 3 + 1}/3 base", "vllm", "dev", f"dynamo:{i}", "", "7/7",
                            3, 60.0, "failed" if i == 5 else "done", "engine-api", "RUN x | exit 7" if i == 5 else "",
                            started_at=now - 1000 + i) for i in range(BUILDS))
    exps = tuple(ExperimentRow(f"exp{i}", f"exp{i}", f"tp={i % 4}", "failed" if i % 10 == 0 else "done", now - 5,
                               1.0, 2.0, 0.1, 0.01, "100", "1.0", True, "exited" if i % 10 == 0 else "")
                 for i in range(EXPERIMENTS))
    return {
        "tun": Snapshot("tun", "tunnels", ok, now, {"tunnels": tunnels}),
        "orch": Snapshot("orch", "orchestrator", ok, now, {"deployments": tuple(deps)}),
        "compose": Snapshot("compose", "compose", ok, now, {"compose": tuple(compose)}),
        "pylet": Snapshot("pylet", "pylet", ok, now, {"pylet_workers": pylet_workers, "pylet_instances": instances}),
        "sllm": Snapshot("sllm", "sllm", ok, now, {"sllm_heads": heads}),
        "dynamo": Snapshot("dynamo", "dynamo", ok, now, {"builds": builds}),
        "tuner": Snapshot("tuner", "tuner", ok, now, {"experiments": exps}),
    }


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 4)


def derive_times(repeat: int) -> dict:
    from servedeck.overview.attention import Attention
    from servedeck.overview.blocks import blocks, gpu_hosts
    from servedeck.overview.events import EventFeed
    from servedeck.overview.joined import endpoints

    attention = Attention()
    feed = EventFeed(None)  # the app diffs every snapshot it receives for the event feed
    now = time.time()
    parts: dict[str, list[float]] = {"attention": [], "blocks": [], "joined_view": [], "events": []}
    for snap in fleet_snapshots(now, 0).values():
        feed.observe(snap, now)  # the baseline
    for tick in range(1, repeat + 1):
        snaps = fleet_snapshots(now, tick)
        started = time.perf_counter()
        for snap in snaps.values():
            feed.observe(snap, now)
        parts["events"].append(time.perf_counter() - started)
        started = time.perf_counter()
        attention.items(snaps, now)
        parts["attention"].append(time.perf_counter() - started)
        started = time.perf_counter()
        blocks(snaps), gpu_hosts(snaps)
        parts["blocks"].append(time.perf_counter() - started)
        started = time.perf_counter()
        endpoints(snaps)
        parts["joined_view"].append(time.perf_counter() - started)
    out = {f"{k}_median_s": _median(v) for k, v in parts.items()}
    out["total_median_s"] = round(sum(out.values()), 4)
    return out


async def _widget_times(repeat: int) -> dict:
    from textual.app import App, ComposeResult

    from servedeck.overview.blocks import FED_BY
    from servedeck.widgets.panes.overview import OVERVIEW_PANE, OverviewBody

    class Bench(App):
        def compose(self) -> ComposeResult:
            yield OverviewBody(OVERVIEW_PANE, id="overview")

    now = time.time()
    fed = set(FED_BY)  # every block shown
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
    return {"gpus": GPUS, "jobs": JOBS, "workers": WORKERS, "tunnels": TUNNELS, "pylet_instances": PYLET_INSTANCES,
            "derive": derive_times(max(repeat, 3)), "widget": asyncio.run(_widget_times(max(repeat, 3)))}


# The cockpit itself (ServedeckApp, its poller, its CSS) opening on the overview, fed by
# in-process backends that answer with the snapshots above at once: the first frame that
# shows the jobs block's count is the overview drawn at scale.
SCALE_APP = """
import sys, time
sys.path.insert(0, {bench!r})
from overview_bench import fleet_snapshots
from servedeck.app.main_app import ServedeckApp
from servedeck.backends.base import Backend, BackendSettings
from servedeck.backends.fleet import Fleet
from servedeck.backends.registry import load_kind
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text
from servedeck.overview.events import EventFeed

now = time.time()
runners = []
for name, snap in fleet_snapshots(now).items():
    panes = tuple(p for p in load_kind(snap.kind).panes if p.key in snap.panes)
    cls = type(name + "Static", (Backend,), {{"kind": snap.kind, "panes": panes,
               "poll": lambda self, wanted, rows=snap.panes: {{k: v for k, v in rows.items() if k in wanted}}}})
    runners.append(BackendRunner(cls(BackendSettings(name=name, interval=3600))))
ServedeckApp(load_text("{{}}\\n", "bench.yaml"), fleet=Fleet(runners), events=EventFeed(None)).run()
"""


def measure_overview_first_frame(config, repeat: int) -> dict:
    """Seconds from process start to the overview drawn with 10,000 jobs, vs a minimal app."""
    import statistics
    import sys
    from pathlib import Path

    from firstframe import MINIMAL_APP, first_frame_seconds

    script = SCALE_APP.format(bench=str(Path(__file__).resolve().parent))
    servedeck, minimal = [], []
    for _ in range(max(repeat, 3)):  # interleaved so both see the same machine load
        minimal.append(first_frame_seconds([sys.executable, "-c", MINIMAL_APP], b"MINIMAL-FIRST-FRAME"))
        servedeck.append(first_frame_seconds([sys.executable, "-c", script], f"{JOBS} jobs".encode(), cols=200, rows=50))
    s, m = statistics.median(servedeck), statistics.median(minimal)
    return {"overview_at_scale_median_s": round(s, 4), "minimal_textual_app_median_s": round(m, 4),
            "ratio_median": round(s / m, 2), "samples_s": [round(x, 4) for x in servedeck],
            "minimal_samples_s": [round(x, 4) for x in minimal]}


MEASURES = {"overview_render": measure_overview_render, "overview_first_frame": measure_overview_first_frame}


if __name__ == "__main__":  # without a lab: both measures print as JSON
    import json
    import sys

    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(json.dumps({name: measure(None, repeat) for name, measure in MEASURES.items()}, indent=2))
