"""The serving fleet: stand-in SGLang workers, the real sglang-router, a stand-in DCGM exporter."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

from servedeck.backends.ssh.ports import listening_sockets
from servedeck.lab.ports import http_ok
from servedeck.lab.services.base import Context, Waiter, find, python
from servedeck.lab.procs import start_time
from servedeck.lab.services.slurm import start_slurm, submit_job
from servedeck.lab.state import LabError, ServiceRecord

LOCAL = "127.0.0.1"


def _worker_argv(port: int) -> list[str]:
    return [python(), "-m", "servedeck.lab.standin_sglang", "--host", LOCAL, "--port", str(port),
            "--model-name", "standin-model", "--tokens-per-second", "20"]


def start_workers(ctx: Context, via_slurm: bool = False) -> Waiter:
    """Stand-in workers on worker_base + i. With `via_slurm` (and SLURM installed) each is
    a SLURM job (`--comment port=N`, so the cockpit can match worker and job), on the
    same ports as otherwise, so the router's registration does not change."""
    if via_slurm:
        wait = start_slurm(ctx)
        if wait is not None:
            wait()
    if via_slurm and ctx.info.slurm and ctx.info.slurm_conf:
        return _start_worker_jobs(ctx)
    recs = []
    for i in range(ctx.workers):
        port = ctx.ports.worker_base + i
        url = f"http://{LOCAL}:{port}"
        recs.append(ctx.launch(f"worker-{i}", _worker_argv(port), port=port, url=url))
    ctx.scrape_targets["sglang"] = [f"{LOCAL}:{r.port}" for r in recs]

    def ready() -> None:
        for rec in recs:
            ctx.await_ready(rec, lambda rec=rec: http_ok(f"{rec.url}/health"), "answer /health")
    return ready


def _start_worker_jobs(ctx: Context) -> Waiter:
    recs = []
    for i in range(ctx.workers):
        port = ctx.ports.worker_base + i
        log = ctx.path("logs", f"worker-{i}.log")
        ctx.worker_jobs.append(submit_job(ctx.info.slurm_conf, f"sglang-worker-{i}", _worker_argv(port),
                                          comment=f"port={port}", output=log, cwd=ctx.dir))
        rec = ServiceRecord(name=f"worker-{i}", port=port, url=f"http://{LOCAL}:{port}", log=str(log),
                            argv=_worker_argv(port))  # what `restart_service` runs
        ctx.info.services.append(rec)
        recs.append(rec)
    ctx.info.save()
    ctx.scrape_targets["sglang"] = [f"{LOCAL}:{r.port}" for r in recs]

    def ready() -> None:
        for rec in recs:
            ctx.await_ready(rec, lambda rec=rec: http_ok(f"{rec.url}/health"), "answer /health (as a SLURM job)")
            pid = listener_pid(rec.port or 0)
            if pid is not None:  # recorded so `lab down` stops it by pid as well as by scancel
                rec.pid, rec.start_time = pid, start_time(pid)
        ctx.info.save()
    return ready


def listener_pid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:port (from /proc; no ss, no psutil)."""
    inodes = {inode for listening, inode in listening_sockets() if listening == port}
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue
        if any(link.startswith("socket:[") and link[8:-1] in inodes for link in links):
            return int(proc.name)
    return None


def _healthy_workers(router_url: str) -> int:
    try:
        with urllib.request.urlopen(f"{router_url}/workers", timeout=1) as resp:  # noqa: S310
            data = json.load(resp)
    except (OSError, ValueError):
        return -1
    return sum(1 for w in data.get("workers", []) if w.get("is_healthy"))


def start_router(ctx: Context) -> Waiter:
    binary = find("sglang-router")
    if binary is None:
        raise LabError("sglang-router is not installed: pip install -e '.[lab]' (or scripts/setup.sh)")
    port, mport = ctx.ports.router, ctx.ports.router_metrics
    urls = [f"http://{LOCAL}:{ctx.ports.worker_base + i}" for i in range(ctx.workers)]
    rec = ctx.launch("router", [
        binary, "launch", "--host", LOCAL, "--port", str(port), "--worker-urls", *urls,
        "--prometheus-host", LOCAL, "--prometheus-port", str(mport),
        "--health-check-interval-secs", "5", "--log-level", "warn",
        # every worker gets its share (cache_aware sent a burst of one prompt to one worker,
        # often one of the orchestrator's, which the DCGM stand-in and Prometheus do not follow)
        "--policy", "round_robin",
    ], port=port, url=f"http://{LOCAL}:{port}")
    ctx.scrape_targets["router"] = [f"{LOCAL}:{mport}"]

    def ready() -> None:
        assert rec.url
        ctx.await_ready(rec, lambda: _healthy_workers(rec.url or "") >= ctx.workers,
                        f"report {ctx.workers} healthy workers")
    return ready


def start_dcgm(ctx: Context) -> Waiter:
    port = ctx.ports.dcgm
    follow = [f"http://{LOCAL}:{ctx.ports.worker_base + i}/metrics" for i in range(ctx.workers)]
    # GPU i follows worker i % workers; when the workers are SLURM jobs, it says so (hpc_job)
    jobs = [ctx.worker_jobs[i % len(ctx.worker_jobs)] for i in range(ctx.gpus)] if ctx.worker_jobs else []
    rec = ctx.launch("dcgm", [
        python(), "-m", "servedeck.lab.standin_dcgm", "--host", LOCAL, "--port", str(port),
        "--gpus", str(ctx.gpus), "--hostname", socket.gethostname(), "--follow", *follow,
        *(["--hpc-jobs", *jobs] if jobs else []),
    ], port=port, url=f"http://{LOCAL}:{port}")
    ctx.scrape_targets["dcgm"] = [f"{LOCAL}:{port}"]
    return lambda: ctx.await_ready(rec, lambda: http_ok(f"{rec.url}/metrics"), "serve /metrics")
