"""A stand-in NVIDIA dcgm-exporter whose GPUs follow the stand-in workers' load.

Run: `python -m servedeck.lab.standin_dcgm --port 9400 --gpus 4 --hostname H
--follow http://127.0.0.1:30000/metrics ...`. Each second it scrapes the followed
workers' /metrics and derives utilisation from their running requests and token usage,
then power, temperature, clocks and framebuffer from utilisation. Metric and label
names are dcgm-exporter's; `modelName` says "standin" so nobody mistakes the GPUs.
"""

from __future__ import annotations

import argparse
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

MODEL = "NVIDIA H100 80GB HBM3 (standin)"
FB_TOTAL_MIB = 81559
IDLE_W, MAX_W = 70.0, 700.0
IDLE_C, MAX_C = 32.0, 78.0
IDLE_MHZ, MAX_MHZ = 345.0, 1980.0

METRICS = [  # name, type, help (as dcgm-exporter prints them)
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
]


@dataclass
class WorkerLoad:
    running: float = 0.0
    queued: float = 0.0
    token_usage: float = 0.0


def scrape_load(url: str, timeout: float = 0.8) -> WorkerLoad | None:
    """The followed worker's load from its sglang: gauges, or None when unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
            text = resp.read().decode()
    except OSError:
        return None
    load = WorkerLoad()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "sglang:num_running_reqs":
                load.running += sample.value
            elif sample.name == "sglang:num_queue_reqs":
                load.queued += sample.value
            elif sample.name == "sglang:token_usage":
                load.token_usage = max(load.token_usage, sample.value)
    return load


class GpuFleet:
    """N simulated GPUs; GPU i serves followed worker i % len(workers)."""

    def __init__(self, gpus: int, hostname: str, follow: list[str], max_running: float = 8.0,
                 idle_util: float = 0.0, hpc_jobs: list[str] | None = None) -> None:
        self.hostname, self.follow, self.max_running = hostname, follow, max_running
        self.hpc_jobs = hpc_jobs or []  # dcgm-exporter's SLURM job mapping: GPU i runs job i
        self.idle_util = idle_util  # utilisation of GPUs that follow no worker (tests)
        self.util = [0.0] * gpus
        start_c = IDLE_C if follow else IDLE_C + (MAX_C - IDLE_C) * idle_util / 100.0
        self.temp = [start_c] * gpus
        self.mem_frac = [0.0] * gpus
        self.xid = [0] * gpus  # the last XID error of each GPU (POST /standin/xid sets it)
        self._lock = threading.Lock()

    def step(self, dt: float = 1.0) -> None:
        loads = [scrape_load(url) for url in self.follow]
        with self._lock:
            for i in range(len(self.util)):
                load = loads[i % len(loads)] if loads else None
                target = self.idle_util if not self.follow else 0.0
                if load is not None and (load.running or load.queued):
                    busy = min(1.0, (load.running + load.queued) / self.max_running)
                    target = 100.0 * max(busy, load.token_usage)
                # a live worker holds weights + its KV pool (SGLang preallocates ~85 %)
                self.mem_frac[i] = 0.85 if load is not None or (not self.follow and target) else 0.0
                self.util[i] = target  # dcgm reports the last sample window: no smoothing
                temp_target = IDLE_C + (MAX_C - IDLE_C) * target / 100.0
                self.temp[i] += (temp_target - self.temp[i]) * min(1.0, dt / 5.0)  # thermal lag

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            rows = list(zip(self.util, self.temp, self.mem_frac))
            xids = list(self.xid)
        for name, kind, doc in METRICS:
            lines += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
            for i, (util, temp, mem) in enumerate(rows):
                used = round(FB_TOTAL_MIB * mem)
                value: Any = {
                    "DCGM_FI_DEV_SM_CLOCK": round(IDLE_MHZ + (MAX_MHZ - IDLE_MHZ) * util / 100.0),
                    "DCGM_FI_DEV_GPU_TEMP": round(temp),
                    "DCGM_FI_DEV_POWER_USAGE": round(IDLE_W + (MAX_W - IDLE_W) * util / 100.0, 3),
                    "DCGM_FI_DEV_GPU_UTIL": round(util),
                    "DCGM_FI_DEV_FB_FREE": FB_TOTAL_MIB - used,
                    "DCGM_FI_DEV_FB_USED": used,
                    "DCGM_FI_DEV_XID_ERRORS": xids[i],
                    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": round(util / 100.0, 6),
                }[name]
                labels = (f'gpu="{i}",UUID="GPU-standin-{self.hostname}-{i:04d}",device="nvidia{i}",'
                          f'modelName="{MODEL}",pci_bus_id="00000000:{0x18 + i:02X}:00.0",'
                          f'Hostname="{self.hostname}",DCGM_FI_DRIVER_VERSION="standin"')
                if i < len(self.hpc_jobs) and self.hpc_jobs[i]:
                    labels += f',hpc_job="{self.hpc_jobs[i]}"'  # as with --hpc-job-mapping-dir
                lines.append(f"{name}{{{labels}}} {value}")
        return "\n".join(lines) + "\n"


def serve(fleet: GpuFleet, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "standin dcgm-exporter serves /metrics only")
                return
            body = fleet.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            """The stand-in's own fault switch (not a dcgm-exporter surface): an XID error on a
            GPU, as a GPU that fell off the bus reports it. `?gpu=N&code=79` (code 0 clears)."""
            from urllib.parse import parse_qs, urlsplit

            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            try:
                gpu, code = int(query["gpu"][0]), int(query.get("code", ["79"])[0])
                if parts.path != "/standin/xid" or not 0 <= gpu < len(fleet.xid):
                    raise ValueError
            except (KeyError, ValueError):
                self.send_error(400, "POST /standin/xid?gpu=N&code=XID")
                return
            with fleet._lock:
                fleet.xid[gpu] = code
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="standin_dcgm", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--gpus", type=int, default=4)
    parser.add_argument("--hostname", default="standin-node")
    parser.add_argument("--follow", nargs="*", default=[], metavar="URL",
                        help="worker /metrics URLs whose load the GPUs follow")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--idle-util", type=float, default=0.0,
                        help="utilisation %% of GPUs when no worker is followed (fixed values for tests)")
    parser.add_argument("--hpc-jobs", nargs="*", default=[], metavar="JOB",
                        help="SLURM job ids of GPUs 0, 1...: adds dcgm-exporter's hpc_job label")
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error("--gpus must be at least 1")
    fleet = GpuFleet(args.gpus, args.hostname, args.follow, idle_util=args.idle_util, hpc_jobs=args.hpc_jobs)
    try:
        server = serve(fleet, args.host, args.port)
    except OSError as exc:
        print(f"standin_dcgm: cannot listen on {args.host}:{args.port}: {exc.strerror}")
        return 1

    def loop() -> None:
        while True:
            fleet.step(args.interval)
            time.sleep(args.interval)

    threading.Thread(target=loop, daemon=True, name="standin-dcgm-follow").start()
    print(f"standin_dcgm: {args.gpus} standin GPUs on http://{args.host}:{args.port}/metrics", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
