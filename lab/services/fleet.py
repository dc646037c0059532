"""The serving fleet: stand-in SGLang workers, the real sglang-router, a stand-in DCGM exporter."""

from __future__ import annotations

import json
import socket
import urllib.request

from servedeck.lab.ports import http_ok
from servedeck.lab.services.base import Context, Waiter, find, python
from servedeck.lab.state import LabError

LOCAL = "127.0.0.1"


def start_workers(ctx: Context) -> Waiter:
    recs = []
    for i in range(ctx.workers):
        port = ctx.ports.worker_base + i
        url = f"http://{LOCAL}:{port}"
        recs.append(ctx.launch(f"worker-{i}", [
            python(), "-m", "servedeck.lab.standin_sglang", "--host", LOCAL, "--port", str(port),
            "--model-name", "standin-model", "--tokens-per-second", "20",
        ], port=port, url=url))
    ctx.scrape_targets["sglang"] = [f"{LOCAL}:{r.port}" for r in recs]

    def ready() -> None:
        for rec in recs:
            ctx.await_ready(rec, lambda rec=rec: http_ok(f"{rec.url}/health"), "answer /health")
    return ready


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
    rec = ctx.launch("dcgm", [
        python(), "-m", "servedeck.lab.standin_dcgm", "--host", LOCAL, "--port", str(port),
        "--gpus", str(ctx.gpus), "--hostname", socket.gethostname(), "--follow", *follow,
    ], port=port, url=f"http://{LOCAL}:{port}")
    ctx.scrape_targets["dcgm"] = [f"{LOCAL}:{port}"]
    return lambda: ctx.await_ready(rec, lambda: http_ok(f"{rec.url}/metrics"), "serve /metrics")
