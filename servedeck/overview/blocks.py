"""The overview's blocks as plain data: one short table per system, built from snapshots.

Each block row can lead to a row of its own pane (`Jump`). Big fleets are summarised
(jobs by state, workers by health, GPUs by host) so a block stays a few lines long
whatever the fleet's size; the busiest or worst entries come first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from servedeck.backends.base import Health, Snapshot
from servedeck.backends.metrics.model import GpuRow, sort_gpus
from servedeck.overview.common import (
    ACTIVE_JOB_STATES, CRIT, FAILED_JOB_STATES, WARN, BackendRef, Jump, rows_of,
)
from servedeck.overview import later
from servedeck.overview.shapes import MAX_ROWS, Block, BlockRow, clip
from servedeck.text import safe

@dataclass(frozen=True)
class GpuHost:
    """The GPUs of one host, for the gauge strip."""

    backend: str
    host: str
    gpus: tuple[GpuRow, ...] = field(default=())

    @property
    def mean_util(self) -> float | None:
        values = [g.util_percent for g in self.gpus if g.util_percent is not None]
        return sum(values) / len(values) if values else None

    @property
    def mean_mem(self) -> float | None:
        values = [g.mem_percent for g in self.gpus if g.mem_percent is not None]
        return sum(values) / len(values) if values else None

    @property
    def max_temp(self) -> float | None:
        values = [g.temp_c for g in self.gpus if g.temp_c is not None]
        return max(values) if values else None

    @property
    def xid(self) -> int:
        return sum(1 for g in self.gpus if g.xid_errors)

    @property
    def level(self) -> str:
        levels = {g.level_of(f) for g in self.gpus for f in ("util_percent", "mem_percent", "temp_c")}
        return CRIT if self.xid or "crit" in levels else WARN if "warn" in levels else ""


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def gpu_hosts(snapshots: Mapping[str, Snapshot]) -> list[GpuHost]:
    by_host: dict[tuple[str, str], list[GpuRow]] = {}
    for backend, gpu in rows_of(snapshots, "gpus"):
        by_host.setdefault((backend, gpu.host), []).append(gpu)
    return [GpuHost(b, h, tuple(sort_gpus(g))) for (b, h), g in sorted(by_host.items(), key=lambda kv: kv[0][1])]


def serving_block(snapshots: Mapping[str, Snapshot]) -> Block:
    entries = rows_of(snapshots, "serving")
    entries.sort(key=lambda e: (e[1].state == "ok", -(e[1].running_reqs or 0), e[1].instance))
    rows = []
    for backend, row in entries:
        level = CRIT if row.state == "down" else WARN if row.state != "ok" else ""
        rows.append(BlockRow((safe(row.instance, 24), safe(row.model, 16), _fmt(row.running_reqs), _fmt(row.queued_reqs),
                              _fmt(row.gen_throughput), _fmt(None if row.ttft_p99_s is None else row.ttft_p99_s * 1000, "ms"),
                              row.state), level, Jump("serving", backend, row)))
    shown, more = clip(rows)
    total = sum(r.gen_throughput or 0 for _, r in entries)
    return Block("serving", "Serving", ("instance", "model", "run", "queue", "tok/s", "ttft99", "state"), shown, more,
                 f"{len(entries)} instances, {total:.0f} tok/s" if entries else "none")


def jobs_block(snapshots: Mapping[str, Snapshot]) -> Block:
    entries = rows_of(snapshots, "jobs")
    counts: Counter[tuple[str, str]] = Counter((b, j.state.upper()) for b, j in entries)
    first: dict[tuple[str, str], Any] = {}
    for backend, job in entries:
        first.setdefault((backend, job.state.upper()), job)
    order = lambda kv: (kv[0][1] not in FAILED_JOB_STATES, kv[0][1] != "PENDING", kv[0][1] != "RUNNING", kv[0])  # noqa: E731
    rows = []
    for (backend, state), n in sorted(counts.items(), key=order):
        level = CRIT if state in FAILED_JOB_STATES else WARN if state in ("PENDING", "CANCELLED") else ""
        rows.append(BlockRow((backend, state, str(n)), level, Jump("jobs", backend, first[(backend, state)])))
    shown, more = clip(rows)
    active = sum(n for (_, s), n in counts.items() if s in ACTIVE_JOB_STATES)
    return Block("jobs", "SLURM jobs", ("cluster", "state", "jobs"), shown, more,
                 f"{len(entries)} jobs, {active} active" if entries else "none")


def workers_block(snapshots: Mapping[str, Snapshot]) -> Block:
    entries = rows_of(snapshots, "workers")
    rows = []
    bad = [(b, w) for b, w in entries if w.healthy is False]
    for backend, worker in bad[:MAX_ROWS - 2]:
        rows.append(BlockRow((backend, safe(worker.url, 30), "unhealthy"), CRIT, Jump("workers", backend, worker)))
    counts: Counter[tuple[str, str]] = Counter(
        (b, "healthy" if w.healthy else "unknown" if w.healthy is None else "unhealthy") for b, w in entries)
    first: dict[tuple[str, str], Any] = {}
    for backend, worker in entries:
        first.setdefault((backend, "healthy" if worker.healthy else "unknown" if worker.healthy is None else "unhealthy"), worker)
    for (backend, health), n in sorted(counts.items()):
        if health != "unhealthy":
            rows.append(BlockRow((backend, f"{n} workers", health), "", Jump("workers", backend, first[(backend, health)])))
    shown, more = clip(rows)
    healthy = counts_total(counts, "healthy")
    return Block("workers", "Router workers", ("router", "worker", "health"), shown, more,
                 f"{healthy}/{len(entries)} healthy" if entries else "none")


def counts_total(counts: Counter, what: str) -> int:
    return sum(n for (_, k), n in counts.items() if k == what)


def tunnels_block(snapshots: Mapping[str, Snapshot]) -> Block:
    entries = rows_of(snapshots, "tunnels")
    entries.sort(key=lambda e: (e[1].state == "up", e[1].name))
    rows = [BlockRow((t.name, t.state, f"{t.local} -> {t.remote}", str(t.connections)),
                     CRIT if t.state == "down" else WARN if t.state == "reconnecting" else "",
                     Jump("tunnels", b, t)) for b, t in entries]
    shown, more = clip(rows)
    up = sum(1 for _, t in entries if t.state == "up")
    return Block("tunnels", "Tunnels", ("tunnel", "state", "forward", "conns"), shown, more,
                 f"{up}/{len(entries)} up" if entries else "none")


def deployments_block(snapshots: Mapping[str, Snapshot]) -> Block:
    entries = [(b, r) for b, r in rows_of(snapshots, "deployments") if not r.instance]
    rows = []
    for backend, row in entries:
        short = row.desired is not None and (row.ready or 0) < row.desired
        rows.append(BlockRow((row.deployment, f"{row.ready or 0}/{_fmt(row.desired)}", str(row.unhealthy or 0), row.phase),
                             WARN if short else "", Jump("deployments", backend, row)))
    shown, more = clip(rows)
    return Block("deployments", "Deployments", ("deployment", "ready", "unhealthy", "phase"), shown, more,
                 f"{len(entries)} deployments" if entries else "none")


def run_block(snapshots: Mapping[str, Snapshot]) -> Block:
    entries = [(b, r) for b, r in rows_of(snapshots, "container_runs") if r.current]
    rows = []
    for backend, run in entries:
        valid = {True: "valid", False: "NOT valid", None: "unknown"}[run.valid_for_benchmark]
        rows.append(BlockRow((safe(run.run_id, 32), run.container_state or run.state, valid),
                             WARN if run.valid_for_benchmark is False else "", Jump("container_runs", backend, run)))
        for warning in run.warnings[:MAX_ROWS - 1]:
            rows.append(BlockRow(("", "warning", safe(warning, 40)), WARN, Jump("container_runs", backend, run)))
    shown, more = clip(rows)
    return Block("container_runs", "Container run", ("run", "state", "benchmark"), shown, more,
                 f"{sum(len(r.warnings) for _, r in entries)} warnings" if entries else "no current run")


def backends_block(snapshots: Mapping[str, Snapshot]) -> Block:
    order = {Health.DOWN: 0, Health.DEGRADED: 1, Health.UNKNOWN: 2, Health.OK: 3}
    entries = sorted(snapshots.values(), key=lambda s: (order[s.state.health], s.backend))
    rows = [BlockRow((safe(s.backend, 16), s.kind, s.state.health.value, safe(s.state.message, 40)),
                     CRIT if s.state.health is Health.DOWN else WARN if s.state.health is Health.DEGRADED else "",
                     Jump("backends", "servedeck", BackendRef(s.backend))) for s in entries]
    shown, more = clip(rows)
    ok = sum(1 for s in entries if s.state.health is Health.OK)
    return Block("backends", "Backends", ("backend", "kind", "state", "message"), shown, more, f"{ok}/{len(entries)} ok")


BLOCKS = (serving_block, jobs_block, workers_block, tunnels_block, deployments_block, run_block, *later.BLOCKS,
          backends_block)

# The panes whose rows the overview reads: the panes the poller fetches while it shows.
FED_BY = frozenset({"gpus", "serving", "jobs", "workers", "tunnels", "deployments", "container_runs", "targets"}) \
    | later.FED_BY


def blocks(snapshots: Mapping[str, Snapshot]) -> list[Block]:
    return [make(snapshots) for make in BLOCKS]
