"""Prometheus and node_exporter from Debian, scraping everything the lab runs every second."""

from __future__ import annotations

from servedeck.lab.ports import http_ok
from servedeck.lab.services.base import Context, Waiter, find

LOCAL = "127.0.0.1"


def start_node_exporter(ctx: Context) -> Waiter | None:
    binary = find("prometheus-node-exporter") or find("node_exporter")
    if binary is None:
        ctx.log("node_exporter: not installed (apt-get install prometheus-node-exporter); skipped")
        return None
    port = ctx.ports.node_exporter
    rec = ctx.launch("node_exporter", [
        binary, f"--web.listen-address={LOCAL}:{port}",
        # the collectors that need systemd, hwmon sensors or network stats only spam the log here
        "--no-collector.systemd", "--no-collector.hwmon", "--no-collector.rapl",
    ], port=port, url=f"http://{LOCAL}:{port}")
    ctx.scrape_targets["node"] = [f"{LOCAL}:{port}"]
    return lambda: ctx.await_ready(rec, lambda: http_ok(f"{rec.url}/metrics"), "serve /metrics")


def prometheus_yaml(targets: dict[str, list[str]]) -> str:
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: [{', '.join(repr(t) for t in hosts)}]\n"
        for job, hosts in targets.items()
    )
    return ("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n{jobs}")


def start_prometheus(ctx: Context) -> Waiter | None:
    binary = find("prometheus")
    if binary is None:
        ctx.log("prometheus: not installed (apt-get install prometheus); skipped")
        return None
    port = ctx.ports.prometheus
    conf = ctx.path("prometheus", "prometheus.yml")
    conf.write_text(prometheus_yaml({"prometheus": [f"{LOCAL}:{port}"], **ctx.scrape_targets}))
    rec = ctx.launch("prometheus", [
        binary, f"--config.file={conf}", f"--storage.tsdb.path={ctx.path('prometheus', 'data', 'x').parent}",
        f"--web.listen-address={LOCAL}:{port}", "--storage.tsdb.retention.time=1d",
        f"--web.console.templates={conf.parent}", f"--web.console.libraries={conf.parent}",
    ], port=port, url=f"http://{LOCAL}:{port}")
    return lambda: ctx.await_ready(rec, lambda: http_ok(f"{rec.url}/-/ready"), "become ready")
