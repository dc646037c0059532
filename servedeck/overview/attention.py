""""Needs attention": what is wrong right now, most severe first, each with how long
and one line of why. One small rule per kind of fault; each reads only snapshots.

A rule that knows when its fault began says so (a backend's state since, a tunnel's
since); the others count from the first refresh that saw it (`FirstSeen`).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Mapping

from servedeck.backends.base import Health, Snapshot
from servedeck.overview import later
from servedeck.overview.common import (
    CRIT, FAILED_JOB_STATES, WARN, BackendRef, FirstSeen, Jump, match_all, rows_of,
)
from servedeck.overview.shapes import AttentionItem, Limits
from servedeck.text import safe


Rule = Callable[[Mapping[str, Snapshot], float, FirstSeen, Limits], Iterable[AttentionItem]]


def backend_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    for name, snap in snapshots.items():
        state = snap.state
        if state.health not in (Health.DOWN, Health.DEGRADED):
            continue
        why = safe(state.message, 100) + (f" ({safe(state.hint, 60)})" if state.hint else "")
        down = state.health is Health.DOWN
        yield AttentionItem(CRIT if down else WARN, "backend_down" if down else "backend_degraded",
                            f"{snap.kind} {name} {'down' if down else 'degraded'}", why, state.since,
                            Jump("backends", "servedeck", BackendRef(name)))


def job_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    for backend, job in rows_of(snapshots, "jobs"):
        state = job.state.upper()
        if state not in FAILED_JOB_STATES and state not in ("CANCELLED", "PENDING"):
            continue
        key = f"job|{backend}|{job.job_id}|{state}"
        first = seen.touch(key, now)
        if state == "PENDING" and now - first < limits.pending_s:
            continue
        label = f"job {job.job_id}" + (f" ({safe(job.name, 24)})" if job.name else "")
        if state in FAILED_JOB_STATES or state == "CANCELLED":
            if now - first > limits.ended_s:
                continue
            failed = state in FAILED_JOB_STATES
            why = f"ended {state}" + (f" on {job.node}" if job.node else "") + (f": {safe(job.reason, 60)}" if job.reason not in ("", "None") else "")
            yield AttentionItem(CRIT if failed else WARN, "job_failed" if failed else "job_cancelled",
                                label, why, first, Jump("jobs", backend, job))
        else:
            yield AttentionItem(WARN, "job_pending", label, f"pending: {safe(job.reason or 'no reason given', 60)}",
                                first, Jump("jobs", backend, job))


def worker_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    workers = rows_of(snapshots, "workers")
    for backend, worker in workers:
        if worker.healthy is False and not worker.draining:
            first = seen.touch(f"worker|{backend}|{worker.url}", now)
            yield AttentionItem(CRIT, "worker_unhealthy", f"worker {safe(worker.url, 40)}",
                                f"router {backend} marks it unhealthy" + (f" (job {worker.job_id})" if worker.job_id else ""),
                                first, Jump("workers", backend, worker))
    if not any(s.kind == "router" and "workers" in s.panes for s in snapshots.values()):
        return  # without a router's answer nothing can be called unregistered
    tunnels = [t for _, t in rows_of(snapshots, "tunnels")]
    jobs = rows_of(snapshots, "jobs")
    listed = {id(m.job) for m in match_all([w.url for _, w in workers], [j for _, j in jobs], tunnels).values() if m.job}
    for backend, job in jobs:
        if job.state != "RUNNING" or not job.port or job.draining or id(job) in listed:
            continue
        first = seen.touch(f"unregistered|{backend}|{job.job_id}", now)
        yield AttentionItem(WARN, "worker_unregistered", f"job {job.job_id} :{job.port}",
                            f"serves on {job.node}:{job.port} but no router lists it", first, Jump("jobs", backend, job))
    for backend, row in rows_of(snapshots, "deployments"):
        if row.instance and row.registered is False and row.phase in ("ready", "running", "serving"):
            first = seen.touch(f"dep-unreg|{backend}|{row.id}", now)
            yield AttentionItem(WARN, "worker_unregistered", f"worker {row.id}",
                                f"{row.phase} but not registered with the router", first, Jump("deployments", backend, row))


def serving_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    for backend, row in rows_of(snapshots, "serving"):
        if row.state == "down":
            since = now - row.age_s if row.age_s is not None else seen.touch(f"serving|{backend}|{row.instance}", now)
            yield AttentionItem(WARN, "instance_down", f"instance {safe(row.instance, 40)}",
                                "its metrics stopped answering", since, Jump("serving", backend, row))


def tunnel_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    for backend, tunnel in rows_of(snapshots, "tunnels"):
        if tunnel.state not in ("down", "reconnecting"):
            continue
        since = tunnel.since or seen.touch(f"tunnel|{backend}|{tunnel.name}", now)
        why = f"{tunnel.local} -> {tunnel.remote} via {tunnel.ssh}" + (f": {safe(tunnel.error, 60)}" if tunnel.error else "")
        yield AttentionItem(CRIT if tunnel.state == "down" else WARN, "tunnel_down", f"tunnel {tunnel.name} {tunnel.state}",
                            why, since, Jump("tunnels", backend, tunnel))


def deployment_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    for backend, row in rows_of(snapshots, "deployments"):
        if row.instance or row.desired is None or (row.ready or 0) >= row.desired:
            continue
        first = seen.touch(f"dep|{backend}|{row.deployment}", now)
        why = f"{row.ready or 0}/{row.desired} ready" + (f", {row.unhealthy} unhealthy" if row.unhealthy else "") \
            + (f": {safe(row.reason, 60)}" if row.reason else "")
        yield AttentionItem(WARN, "deployment_short", f"deployment {row.deployment}", why, first,
                            Jump("deployments", backend, row))


def gpu_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    for backend, gpu in rows_of(snapshots, "gpus"):
        name = f"GPU {gpu.host}/{gpu.gpu}"
        if gpu.xid_errors:
            first = seen.touch(f"xid|{backend}|{gpu.id}", now)
            yield AttentionItem(CRIT, "gpu_xid", name, f"XID error {gpu.xid_errors:.0f}" + (f" ({gpu.used_by})" if gpu.used_by else ""),
                                first, Jump("gpus", backend, gpu))
        temp = gpu.level_of("temp_c")
        if temp in ("warn", "crit") and gpu.temp_c is not None:
            first = seen.touch(f"temp|{backend}|{gpu.id}", now)
            yield AttentionItem(CRIT if temp == "crit" else WARN, "gpu_hot", name,
                                f"{gpu.temp_c:.0f}°C, over its {'critical' if temp == 'crit' else 'warning'} threshold",
                                first, Jump("gpus", backend, gpu))


def run_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    for backend, run in rows_of(snapshots, "container_runs"):
        if not run.current or run.valid_for_benchmark is not False:
            continue
        since = run.started_at or seen.touch(f"run|{backend}|{run.run_id}", now)
        shown = ", ".join(run.warnings[:3]) + (f" +{len(run.warnings) - 3}" if len(run.warnings) > 3 else "")
        yield AttentionItem(WARN, "run_invalid", f"run {safe(run.run_id, 32)}",
                            f"not valid for benchmarking: {safe(shown or run.problem, 80)}", since,
                            Jump("container_runs", backend, run))


def target_rule(snapshots, now, seen, limits) -> Iterator[AttentionItem]:
    for backend, target in rows_of(snapshots, "targets"):
        if target.health != "down":
            continue
        first = seen.touch(f"target|{backend}|{target.id}", now)
        yield AttentionItem(WARN, "target_down", f"scrape {target.job} {safe(target.instance, 30)}",
                            safe(target.last_error or "down", 80), first, Jump("targets", backend, target))


RULES: tuple[Rule, ...] = (backend_rule, job_rule, worker_rule, serving_rule, tunnel_rule, deployment_rule,
                           gpu_rule, run_rule, target_rule, *later.RULES)


MAX_PER_RULE = 8  # a rule with more items shows the worst ones and one line for the rest


def bounded(found: list[AttentionItem]) -> list[AttentionItem]:
    """At most MAX_PER_RULE items per rule: a fleet-wide fault is one line, not thousands."""
    by_rule: dict[str, list[AttentionItem]] = {}
    for item in sorted(found, key=AttentionItem.sort_key):
        by_rule.setdefault(item.rule, []).append(item)
    kept: list[AttentionItem] = []
    for rule, items in by_rule.items():
        if len(items) <= MAX_PER_RULE:
            kept += items
            continue
        kept += items[:MAX_PER_RULE - 1]
        rest = items[MAX_PER_RULE - 1:]
        first = rest[0]
        kept.append(AttentionItem(first.severity, rule, f"+{len(rest)} more", f"like {first.subject}: {first.why}",
                                  min(i.since for i in rest), first.jump))
    return sorted(kept, key=AttentionItem.sort_key)


class Attention:
    """Derives the list on every refresh and remembers first-seen times between them."""

    def __init__(self, limits: Limits | None = None, rules: tuple[Rule, ...] = RULES):
        self.limits = limits or Limits()
        self.rules = rules
        self.seen = FirstSeen()

    def items(self, snapshots: Mapping[str, Snapshot], now: float) -> list[AttentionItem]:
        found: list[AttentionItem] = []
        for rule in self.rules:
            found.extend(rule(snapshots, now, self.seen, self.limits))
        self.seen.sweep()
        return bounded(found)
