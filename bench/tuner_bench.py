"""Autotuner benchmarks (added to bench/run.py's MEASURES).

- tuner_overhead: a 3-experiment grid on the real Docker Engine with the stand-in SGLang
  image. Per experiment, the seconds servedeck spends besides server start (container
  create + health wait) and the benchmark itself: warm-up, teardown, and bookkeeping
  (state saves, results files, scheduling) - the last measured as total minus every phase.
- tuner_pane_500: the Experiments pane at 500 experiments: the tuner's status document,
  its trip over the control socket, the backend's rows, and the table's update when one
  experiment changed (Textual, headless).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

PY = sys.executable
PORTS = (24600, 24609)


def measure_tuner_overhead(config: Path, repeat: int) -> dict:
    import docker

    from servedeck.lab.standin_sglang_image import ensure_image

    image = "servedeck-bench-standin-sglang:latest"
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=60)
    ensure_image(client, image)
    with tempfile.TemporaryDirectory(prefix="bench-tuner-") as tmp:
        root = Path(tmp)
        cfg = root / "servedeck.yaml"
        cfg.write_text(json.dumps({"tuner": {"image": image, "port_range": list(PORTS), "health_poll_s": 0.2,
                                             "gpus": {"request": "env", "standin_count": 4}, "state_dir": str(root / "s"),
                                             "results_dir": str(root / "r"), "container_prefix": "sdbench"}}))
        task = root / "t.json"
        task.write_text(json.dumps({
            "task_name": "bench", "model": {"id_or_path": "standin-model"},
            "parameters": {"mem-fraction-static": [0.7, 0.75, 0.8]},
            "optimization": {"strategy": "grid_search", "timeout_per_iteration": 60},
            "benchmark": {"traffic_scenarios": ["D(10,10)"], "num_concurrency": [4], "max_time_per_iteration": 1,
                          "max_requests_per_iteration": 8}}))
        started = time.perf_counter()
        done = subprocess.run([PY, "-m", "servedeck", "tune", "run", str(task), "--config", str(cfg), "--quiet"],
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        exps = json.loads((root / "s" / "bench.json").read_text())["experiments"]
    t = [e["timings"] for e in exps]
    phases = ("create_s", "health_wait_s", "warmup_s", "benchmark_s", "teardown_s")

    def med(key: str) -> float:
        return round(statistics.median(x[key] for x in t), 4)

    overhead = [x["total_s"] - x["create_s"] - x["health_wait_s"] - x["benchmark_s"] for x in t]
    bookkeeping = [x["total_s"] - sum(x[p] for p in phases) for x in t]
    return {"experiments": len(exps), **{f"{p}_median": med(p) for p in phases}, "total_s_median": med("total_s"),
            "overhead_s_median": round(statistics.median(overhead), 4),
            "bookkeeping_s_median": round(statistics.median(bookkeeping), 4),
            "wall_s": round(wall, 2), "wall_per_experiment_s": round(wall / len(exps), 3)}


def _state(n: int):
    from servedeck.tuner.state import Experiment, TunerState

    rng = random.Random(1)
    state = TunerState(task_name="bench500", strategy="grid_search", objective="minimize_latency", budget=n + 20)
    for i in range(1, n + 1):
        m = {k: rng.random() for k in ("mean_e2e_latency", "p50_e2e_latency", "p99_e2e_latency", "mean_ttft",
                                       "mean_tpot", "mean_output_throughput", "mean_total_throughput", "success_rate")}
        state.experiments.append(Experiment(id=i, parameters={"tp-size": 1 + i % 4, "mem-fraction-static": 0.5 + (i % 40) / 100,
                                                              "schedule-policy": ["lpm", "fcfs"][i % 2]},
                                            status="success", metrics=m, score=m["mean_e2e_latency"], started_at=1.0,
                                            finished_at=2.0 + i))
    return state


def measure_tuner_pane(config: Path, repeat: int, n: int = 500) -> dict:
    from textual.app import App

    from servedeck.backends.tuner.backend import EXPERIMENTS, TunerBackend, TunerBackendSettings, rows
    from servedeck.orchestrator.control import ControlServer
    from servedeck.tuner import results
    from servedeck.widgets.line_table import line_body

    state = _state(n)
    doc_s, poll_s, rows_s = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-pane-") as tmp:
        server = ControlServer(Path(tmp) / "tuner.sock",
                               lambda req: {"ok": True, "status": results.status_doc(state, running=True)})
        server.start()
        backend = TunerBackend(TunerBackendSettings(name="b", state_dir=tmp))
        try:
            for _ in range(max(3, repeat)):
                t0 = time.perf_counter()
                doc = results.status_doc(state, running=True)
                doc_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                backend.poll(frozenset({"experiments"}))
                poll_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                rows(doc)
                rows_s.append(time.perf_counter() - t0)
        finally:
            server.stop()
    frames = []
    for step in range(repeat + 1):
        state.experiments[step % n].status = ["success", "benchmarking"][step % 2]
        frames.append([("b", r) for r in rows(results.status_doc(state, running=True))])

    class Bench(App):
        def compose(self):
            yield line_body(EXPERIMENTS, TunerBackend.actions, id="t")  # the app's body for the pane

    async def run() -> tuple[float, list[float]]:
        app = Bench()
        async with app.run_test(size=(200, 60)) as pilot:
            table = app.query_one("#t")
            t0 = time.perf_counter()
            table.show(frames[0])
            await pilot.pause()
            first = time.perf_counter() - t0
            updates = []
            for frame in frames[1:]:
                t0 = time.perf_counter()
                table.show(frame)
                await pilot.pause()
                updates.append(time.perf_counter() - t0)
        return first, updates

    first, updates = asyncio.run(run())
    ms = lambda xs: round(statistics.median(xs) * 1000, 2)  # noqa: E731
    return {"experiments": n, "status_doc_ms": ms(doc_s), "socket_poll_ms": ms(poll_s), "rows_ms": ms(rows_s),
            "table_first_show_s": round(first, 4), "table_update_median_s": round(statistics.median(updates), 4),
            "table_update_max_s": round(max(updates), 4)}


MEASURES: dict[str, Callable[[Path, int], dict]] = {
    "tuner_overhead": measure_tuner_overhead,
    "tuner_pane_500": measure_tuner_pane,
}
