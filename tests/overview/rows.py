"""Rows as the real backends build them, for the overview's unit tests."""

from __future__ import annotations

from servedeck.backends.base import BackendState, Health, Snapshot
from servedeck.backends.metrics.model import GpuRow, ServingRow
from servedeck.backends.orchestrator.backend import DeploymentRow
from servedeck.backends.rows import ContainerRow, JobRow, TunnelRow, WorkerRow
from servedeck.backends.runs.rows import ContainerRunRow

NOW = 1_700_000_000.0


def snap(name: str, kind: str, health: Health = Health.OK, message: str = "", since: float = NOW - 60, **panes):
    return Snapshot(name, kind, BackendState(health, message, since=since), NOW, panes)


def job(job_id: str, state: str = "RUNNING", *, port: int | None = None, node: str = "vm", reason: str = "None"):
    return JobRow("cl", job_id, f"w{job_id}", "root", state, "debug", node if state == "RUNNING" else "",
                  10, None, reason, 1, port=port)


def worker(url: str, healthy: bool | None = True):
    return WorkerRow("rt", url, url, healthy, 0, "m")


def gpu(host: str, index: int, *, xid: float = 0, temp: float = 40, temp_level: str = "ok", used_by: str = ""):
    return GpuRow(host, str(index), f"GPU-{host}-{index}", "H100", 50.0, 40_000, 80_000, temp, 300, False,
                  id=f"{host}/{index}", xid_errors=xid, used_by=used_by, levels=(("temp_c", temp_level),))


def tunnel(name: str, state: str = "up", *, local: str = "127.0.0.1:31000", remote: str = "vm:30000",
           since: float = NOW - 30, error: str = ""):
    return TunnelRow(name, "local", "login", local, remote, state, 0, 0, 0, error, since)


def serving(instance: str, state: str = "ok", age_s: float | None = None):
    return ServingRow(instance, "m", 1, 0, 10.0, 0.1, 0.01, 0.02, 0.005, state=state, age_s=age_s)


def deployment(name: str, desired: int, ready: int, reason: str = ""):
    return DeploymentRow(name, name, "", desired, ready, desired - ready, "", "", None, "", "", None, "reconciling",
                         None, reason)


def run(run_id: str, warnings: tuple[str, ...] = (), current: bool = True):
    return ContainerRunRow(run_id, "/m.json", "2026-01-01T00:00:00Z", warnings, {}, "current" if current else "history",
                           current, not warnings, started_at=NOW - 100)


def container(name: str, ports: str):
    return ContainerRow(name, name[:12], "local", "img", "running", "", NOW - 100, 1.0, 1, ports=ports)
