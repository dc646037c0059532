"""Benchmarks of the gauge panes (issue 4), added to bench/run.py's MEASURES.

- gpu_pane_256: update + render time of the GPU pane for 256 GPUs on 32 hosts (synthetic
  rows through the real widget in a headless app).
- requests_per_refresh: HTTP requests one refresh of the GPU pane costs with 8 and with
  256 stand-in GPUs, through a real Prometheus and in direct-scrape mode.
- idle_cpu: CPU used by the whole cockpit, idle on the lab at the default refresh, run in
  a pty for ~20 s, started on each pane in turn.
"""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

OFFSET = int(os.environ.get("SERVEDECK_BENCH_PORT_OFFSET", "0")) + 9600  # clear of the lab's ports


def _gpu_rows(hosts: int = 32, per_host: int = 8, step: int = 0) -> list:
    from servedeck.backends.metrics.build import build_gpus
    from servedeck.backends.metrics.panes import GaugeSettings
    from servedeck.backends.metrics.scrape import parse_page
    from servedeck.lab.standin_dcgm import GpuFleet

    style = GaugeSettings(name="bench").gpu_style()
    rows = []
    for h in range(hosts):
        fleet = GpuFleet(per_host, f"node-{h:02d}", [], idle_util=(h * 7 + step * 13) % 100)
        fleet.step()
        for r in build_gpus(parse_page(fleet.render(), f"node-{h:02d}:9400", 0.0).samples, style=style):
            rows.append(replace(r, history=tuple(float((i * 11 + step) % 100) for i in range(60))))
    return rows


def measure_gpu_pane(config: Path, repeat: int) -> dict:
    """Seconds to show 256 GPU rows (first time, then an update where every value moved)."""
    from textual.app import App

    from servedeck.backends.metrics.panes import GPUS, PLOT_ACTIONS
    from servedeck.widgets.panes.gpus import make_gpu_table

    frames = [[("bench", r) for r in _gpu_rows(step=s)] for s in range(repeat + 1)]

    class Bench(App):
        def compose(self):
            yield make_gpu_table(GPUS, PLOT_ACTIONS, id="t")

    async def run() -> tuple[float, list[float]]:
        app = Bench()
        async with app.run_test(size=(200, 60)) as pilot:
            table = app.query_one("#t")
            started = time.perf_counter()
            table.show(frames[0])
            await pilot.pause()
            first = time.perf_counter() - started
            updates = []
            for frame in frames[1:]:
                started = time.perf_counter()
                table.show(frame)
                await pilot.pause()
                updates.append(time.perf_counter() - started)
            assert table.row_count == 256
        return first, updates

    first, updates = asyncio.run(run())
    return {"gpus": 256, "hosts": 32, "first_show_s": round(first, 4),
            "update_median_s": round(statistics.median(updates), 4), "update_max_s": round(max(updates), 4),
            "updates": len(updates)}


def _spawn(argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_http(url: str, timeout: float = 30.0) -> None:
    from servedeck.lab.ports import http_ok, wait_until
    if not wait_until(lambda: http_ok(url), timeout):
        raise RuntimeError(f"{url} did not answer")


def measure_requests_per_refresh(config: Path, repeat: int) -> dict:
    """Requests of one GPU-pane refresh at 8 and 256 GPUs, Prometheus and direct scrape."""
    from servedeck.backends.base import PartialPoll
    from servedeck.backends.metrics.scrape import ScrapeBackend, ScrapeSettings
    from servedeck.backends.metrics.prometheus import PrometheusBackend, PrometheusSettings
    from servedeck.lab.services.observability import prometheus_yaml

    out: dict = {}
    for i, gpus in enumerate((8, 256)):
        dcgm_port, prom_port = OFFSET + 2 * i, OFFSET + 2 * i + 1
        work = Path(tempfile.mkdtemp(prefix=f"bench-prom-{gpus}-"))
        (work / "prometheus.yml").write_text(prometheus_yaml({"dcgm": [f"127.0.0.1:{dcgm_port}"]}))
        procs = [
            _spawn([sys.executable, "-m", "servedeck.lab.standin_dcgm", "--port", str(dcgm_port),
                    "--gpus", str(gpus), "--idle-util", "30"], work / "dcgm.log"),
            _spawn(["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}"], work / "prometheus.log"),
        ]
        try:
            _wait_http(f"http://127.0.0.1:{dcgm_port}/metrics")
            _wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
            prom = PrometheusBackend(PrometheusSettings(name="bench", url=f"http://127.0.0.1:{prom_port}"))
            deadline = time.monotonic() + 30
            while len(prom.poll(frozenset({"gpus"})).get("gpus", ())) < gpus:  # first poll also seeds
                if time.monotonic() > deadline:
                    raise RuntimeError("Prometheus never had every GPU")
                time.sleep(0.5)
            counts, latency = [], []
            for _ in range(repeat):
                before, started = prom.session.sent, time.perf_counter()
                prom.poll(frozenset({"gpus"}))
                latency.append(time.perf_counter() - started)
                counts.append(prom.session.sent - before)
            prom.close()
            scrape = ScrapeBackend(ScrapeSettings(name="bench", urls=[f"http://127.0.0.1:{dcgm_port}/metrics"]))
            scrape_counts = []
            for _ in range(repeat):
                before = scrape.sent
                try:
                    scrape.poll(frozenset({"gpus"}))
                except PartialPoll:
                    pass
                scrape_counts.append(scrape.sent - before)
            scrape.close()
            out[f"{gpus}_gpus"] = {"prometheus_requests": sorted(set(counts)),
                                   "prometheus_poll_median_s": round(statistics.median(latency), 4),
                                   "scrape_requests": sorted(set(scrape_counts))}
        finally:
            for p in procs:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
    return out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _idle_cpu(config: Path, seconds: float) -> dict:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "48"}
    import fcntl
    import struct
    import termios
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "servedeck", "--config", str(config)], stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)

    def drain(until: float) -> None:
        import select
        while time.monotonic() < until:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    os.read(master, 65536)
                except OSError:
                    return

    try:
        drain(time.monotonic() + 5)  # start-up and first polls are not idle
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        drain(t0 + seconds)
        cpu1, t1 = _cpu_seconds(proc.pid), time.monotonic()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        os.close(master)
    return {"cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 2), "seconds": round(t1 - t0, 1)}


def _pane_keys(config: Path) -> list[str]:
    from servedeck.app.main_app import ServedeckApp
    from servedeck.config import load_text

    return ServedeckApp(load_text(config.read_text(), str(config))).pane_keys


def measure_idle_cpu(config: Path, repeat: int) -> dict:
    """CPU % of the cockpit process idle on the lab (default refresh), ~20 s on every pane
    (the cockpit started on it), and the worst of them."""
    data = yaml.safe_load(config.read_text())
    out: dict = {}
    for key in _pane_keys(config):
        pane_config = config.with_name(f"servedeck-bench-{key}.yaml")
        pane_config.write_text(yaml.safe_dump({**data, "ui": {**(data.get("ui") or {}), "start_pane": key}}))
        out[f"{key}_pane"] = _idle_cpu(pane_config, 20)
    worst = max(out, key=lambda k: out[k]["cpu_percent"])
    out["worst_pane"] = worst.removesuffix("_pane")
    out["worst_pane_cpu_percent"] = out[worst]["cpu_percent"]
    return out


MEASURES = {
    "gpu_pane_256": measure_gpu_pane,
    "requests_per_refresh": measure_requests_per_refresh,
    "idle_cpu": measure_idle_cpu,
}
