"""The joined view: one row per serving endpoint, linking the GPU(s) it runs on, its
SLURM job, its router worker entry, its tunnel and its container, with the health of
each link, so "this GPU is hot" leads straight to the job, worker and tunnel.

Worker <-> job <-> tunnel is `backends.router.match.match_worker`, the rule the Workers
pane and drain use. GPUs join through dcgm-exporter's job mapping (`used_by` "job N");
serving instances and containers join on the endpoint's host and port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from servedeck.backends.base import Column, PaneSpec, Snapshot
from servedeck.backends.router.match import same_host
from servedeck.overview.common import ACTIVE_JOB_STATES, cached_host_port, match_all, rows_of

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
_PUBLISHED = re.compile(r"(?:(?P<ip>[\d.]+|\[[^\]]*\]|::):)?(?P<port>\d+)->")


@dataclass(frozen=True)
class EndpointRow:
    id: str  # host:port of the endpoint as servedeck reaches it
    model: str
    serving_state: str  # its metrics: ok, stale, down, "" when nothing scrapes it
    running_reqs: float | None
    worker: str  # the router that lists it, "" when none
    worker_state: str  # healthy, unhealthy, unknown, unregistered, ""
    job_id: str
    job_state: str  # RUNNING, ... "" without a job
    node: str
    tunnel: str
    tunnel_state: str
    container: str
    container_state: str
    gpus: str  # host/gpu of every GPU of its job
    gpu_state: str  # ok, hot, xid, stale, "" without GPUs
    gpu_util_percent: float | None  # the busiest of its GPUs
    gpu_temp_c: float | None  # the hottest
    links: str  # "ok", or what is broken: "tunnel down, worker unhealthy"


JOINED = PaneSpec(
    key="endpoints",
    title="Endpoints (joined)",
    columns=(  # priority: the links stay longest on a narrow terminal, their details hide first
        Column("id", "Endpoint", 22, 1), Column("model", "Model", 14, 8), Column("links", "Links", 24, 1),
        Column("gpus", "GPUs", 18, 3), Column("gpu_state", "GPU", 6, 2), Column("gpu_util_percent", "Util", 5, 6),
        Column("gpu_temp_c", "Temp", 5, 5), Column("job_id", "Job", 8, 2), Column("job_state", "Job state", 10, 3),
        Column("node", "Node", 10, 4), Column("worker", "Router", 10, 7), Column("worker_state", "Worker", 12, 2),
        Column("tunnel", "Tunnel", 12, 4), Column("tunnel_state", "Tunnel state", 12, 3),
        Column("container", "Container", 16, 6), Column("container_state", "Ctr state", 9, 5),
        Column("serving_state", "Metrics", 8, 5), Column("running_reqs", "Run", 5, 7),
    ),
    row_key="id",
    aliases=("ep", "endpoint", "joined", "join"),
    order=15,
)


@lru_cache(maxsize=8192)
def _endpoint(url: str) -> str:
    found = cached_host_port(url)
    if found is None:
        return url
    host, port = found
    return f"{'127.0.0.1' if host in _LOOPBACK else host}:{port}"


def _same_endpoint(a: str, b: str) -> bool:
    pa, pb = cached_host_port(a), cached_host_port(b)
    if pa is None or pb is None or pa[1] != pb[1]:
        return False
    return pa[0] == pb[0] or (pa[0] in _LOOPBACK and pb[0] in _LOOPBACK) or same_host(pa[0], pb[0])


def _published_ports(ports: str) -> set[int]:
    return {int(m["port"]) for m in _PUBLISHED.finditer(ports or "")}


def _gpu_state(gpus: list[Any]) -> str:
    if not gpus:
        return ""
    if any(g.xid_errors for g in gpus):
        return "xid"
    if any(g.level_of("temp_c") in ("warn", "crit") for g in gpus):
        return "hot"
    if any(g.state != "ok" for g in gpus):
        return "stale"
    return "ok"


def _worker_state(worker: Any) -> str:
    if worker is None:
        return ""
    return "healthy" if worker.healthy else "unknown" if worker.healthy is None else "unhealthy"


def _max(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@dataclass
class _Draft:
    id: str
    worker: tuple[str, Any] | None = None
    job: Any = None
    tunnel: Any = None
    serving: Any = None
    deployment: Any = None


def endpoints(snapshots: Mapping[str, Snapshot]) -> list[EndpointRow]:
    """Every serving endpoint the snapshots know of, each joined to what stands behind it."""
    jobs = [j for _, j in rows_of(snapshots, "jobs")]
    tunnels = [t for _, t in rows_of(snapshots, "tunnels")]
    drafts: dict[str, _Draft] = {}
    workers = rows_of(snapshots, "workers")
    serving = rows_of(snapshots, "serving")
    matches = match_all([w.url for _, w in workers] + [f"http://{r.instance}" for _, r in serving], jobs, tunnels)
    for backend, worker in workers:
        key = _endpoint(worker.url)
        draft = drafts.setdefault(key, _Draft(key))
        draft.worker = (backend, worker)
        found = matches[worker.url]
        draft.job, draft.tunnel = found.job, found.tunnel
    for _, row in serving:
        key = _endpoint(row.instance)
        draft = drafts.get(key) or next((d for k, d in drafts.items() if _same_endpoint(k, row.instance)), None)
        if draft is None:
            draft = drafts.setdefault(key, _Draft(key))
            found = matches[f"http://{row.instance}"]
            draft.job, draft.tunnel = draft.job or found.job, draft.tunnel or found.tunnel
        draft.serving = row
    claimed = {d.job.job_id for d in drafts.values() if d.job is not None}
    for job in jobs:
        if job.port and job.state in ACTIVE_JOB_STATES and job.job_id not in claimed and job.node:
            key = f"{job.node.split(',')[0]}:{job.port}"
            drafts.setdefault(key, _Draft(key, job=job))
    by_job = {d.job.job_id: d for d in drafts.values() if d.job is not None}
    for _, row in rows_of(snapshots, "deployments"):
        if row.instance and row.job_id in by_job:
            by_job[row.job_id].deployment = row
    gpus_by_job: dict[str, list[Any]] = {}
    for _, gpu in rows_of(snapshots, "gpus"):
        if gpu.used_by.startswith("job "):
            gpus_by_job.setdefault(gpu.used_by[4:], []).append(gpu)
    containers = [c for _, c in rows_of(snapshots, "containers") if c.state == "running"]
    return [_row(d, gpus_by_job, containers, routers=any(s.kind == "router" for s in snapshots.values()))
            for d in sorted(drafts.values(), key=lambda d: d.id)]


def _row(d: _Draft, gpus_by_job: dict[str, list[Any]], containers: list[Any], routers: bool) -> EndpointRow:
    worker = d.worker[1] if d.worker else None
    job, tunnel, serving = d.job, d.tunnel, d.serving
    gpus = gpus_by_job.get(job.job_id, []) if job is not None else []
    host, port = cached_host_port(d.id) or ("", 0)
    container = next((c for c in containers if host in _LOOPBACK and port in _published_ports(c.ports)), None)
    worker_state = _worker_state(worker) or ("unregistered" if routers and job is not None else "")
    gpu_state = _gpu_state(gpus)
    broken = []
    if worker_state in ("unhealthy", "unregistered"):
        broken.append(f"worker {worker_state}")
    if job is not None and job.state not in ACTIVE_JOB_STATES:
        broken.append(f"job {job.state.lower()}")
    if tunnel is not None and tunnel.state != "up":
        broken.append(f"tunnel {tunnel.state}")
    if gpu_state in ("xid", "hot"):
        broken.append(f"gpu {gpu_state}")
    if serving is not None and serving.state == "down":
        broken.append("metrics down")
    if container is None and d.deployment is not None and d.deployment.phase in ("failed", "lost"):
        broken.append(f"deployment {d.deployment.phase}")
    return EndpointRow(
        id=d.id,
        model=(worker.model if worker and worker.model else serving.model if serving else ""),
        serving_state=serving.state if serving else "",
        running_reqs=serving.running_reqs if serving else None,
        worker=d.worker[0] if d.worker else "",
        worker_state=worker_state,
        job_id=job.job_id if job else "",
        job_state=job.state if job else "",
        node=job.node if job else "",
        tunnel=tunnel.name if tunnel else (d.deployment.tunnel if d.deployment else ""),
        tunnel_state=tunnel.state if tunnel else "",
        container=container.name if container else "",
        container_state=(container.health or container.state) if container else "",
        gpus=", ".join(f"{g.host}/{g.gpu}" for g in gpus),
        gpu_state=gpu_state,
        gpu_util_percent=_max([g.util_percent for g in gpus]),
        gpu_temp_c=_max([g.temp_c for g in gpus]),
        links=", ".join(broken) if broken else "ok",
    )
