"""The overview's share of the systems that landed after it: Compose projects, Pylet
workers and instances, the sllm heads, Dynamo builds and the autotuner's experiments.

Per system one attention rule, one event diff and one block, in the same shapes as
attention.py, events.py and blocks.py (which list them beside their own). Each reads
only the rows its backend already produces; nothing here polls.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterator, Mapping

from servedeck.backends.base import Snapshot
from servedeck.overview.common import CRIT, INFO, WARN, BackendRef, Jump, rows_of
from servedeck.overview.shapes import AttentionItem, Block, BlockRow, clip
from servedeck.text import safe

# -- attention rules ------------------------------------------------------------------------


def compose_rule(snapshots, now, seen, limits) -> Iterator[Any]:
    """A Compose service unhealthy, or exited/dead (a non-zero exit is critical)."""
    for backend, row in rows_of(snapshots, "compose"):
        if row.kind != "service":
            continue
        if row.health == "unhealthy":
            first = seen.touch(f"compose-health|{backend}|{row.id}", now)
            yield AttentionItem(CRIT, "compose_unhealthy", f"compose {safe(row.name, 40)}",
                        f"its healthcheck fails ({safe(row.status, 60)})", first, Jump("compose", backend, row))
        elif row.state in ("exited", "dead"):
            first = seen.touch(f"compose-exit|{backend}|{row.id}", now)
            code = row.exit_code
            yield AttentionItem(CRIT if code not in (0, None) else WARN, "compose_exited", f"compose {safe(row.name, 40)}",
                        f"{row.state}" + (f" with code {code}" if code is not None else "") + f" ({safe(row.container, 40)})",
                        first, Jump("compose", backend, row))


def pylet_rule(snapshots, now, seen, limits) -> Iterator[Any]:
    """A Pylet worker SUSPECT or OFFLINE; an instance FAILED (or UNKNOWN: its worker died)."""
    for backend, worker in rows_of(snapshots, "pylet_workers"):
        if worker.status not in ("SUSPECT", "OFFLINE"):
            continue
        first = seen.touch(f"pylet-worker|{backend}|{worker.id}|{worker.status}", now)
        since = worker.last_seen_at or first  # "for": since its last heartbeat
        yield AttentionItem(CRIT if worker.status == "OFFLINE" else WARN, f"pylet_worker_{worker.status.lower()}",
                    f"Pylet worker {worker.id[:8]} {worker.status}",
                    f"no heartbeat from {safe(worker.host, 30)} ({worker.instances} instances on it)",
                    since, Jump("pylet_workers", backend, worker))
    for backend, inst in rows_of(snapshots, "pylet_instances"):
        if inst.status not in ("FAILED", "UNKNOWN"):
            continue
        first = seen.touch(f"pylet-inst|{backend}|{inst.id}|{inst.status}", now)
        if inst.status == "FAILED" and now - first > limits.ended_s:
            continue  # Pylet keeps failed instances: listed for a while, like a failed job
        since = inst.ended_at if inst.status == "FAILED" and inst.ended_at else first
        why = ("failed" + (f" with exit code {inst.exit_code}" if inst.exit_code is not None else "")
               + (f": {safe(inst.failure_reason, 60)}" if inst.failure_reason else "")) if inst.status == "FAILED" \
            else f"its worker {inst.worker[:8] or '?'} stopped answering"
        yield AttentionItem(CRIT if inst.status == "FAILED" else WARN, f"pylet_instance_{inst.status.lower()}",
                    f"Pylet instance {safe(inst.name or inst.id[:8], 30)}", why, since,
                    Jump("pylet_instances", backend, inst))


def sllm_rule(snapshots, now, seen, limits) -> Iterator[Any]:
    """An sllm head that lost Pylet or says it is not healthy (a head that does not answer
    at all is its backend down: backend_rule's item)."""
    for backend, head in rows_of(snapshots, "sllm_heads"):
        if head.pylet_connected is False:
            first = seen.touch(f"sllm-pylet|{backend}", now)
            yield AttentionItem(CRIT, "sllm_pylet_disconnected", f"sllm head {backend}",
                        "pylet_connected is false: it cannot start or stop instances", first,
                        Jump("sllm_heads", backend, head))
        elif head.status.lower() not in ("ok", "healthy", "?"):
            first = seen.touch(f"sllm-status|{backend}", now)
            yield AttentionItem(WARN, "sllm_head_unhealthy", f"sllm head {backend}", f"/health says {safe(head.status, 40)}",
                        first, Jump("sllm_heads", backend, head))


def build_rule(snapshots, now, seen, limits) -> Iterator[Any]:
    """A Dynamo build that failed (or was lost: its process died unrecorded)."""
    for backend, build in rows_of(snapshots, "builds"):
        if build.state not in ("failed", "lost"):
            continue
        first = seen.touch(f"build|{backend}|{build.id}", now)
        if now - first > limits.ended_s:
            continue
        yield AttentionItem(CRIT if build.state == "failed" else WARN, f"build_{build.state}",
                    f"build {safe(build.tag or build.id, 36)}",
                    f"{build.state} at step {build.progress}" + (f": {safe(build.failure, 70)}" if build.failure else ""),
                    first, Jump("builds", backend, build))


def experiment_rule(snapshots, now, seen, limits) -> Iterator[Any]:
    """An autotuner experiment that failed, and a tuning run that failed as a whole."""
    for backend, row in rows_of(snapshots, "experiments"):
        if row.phase != "failed":
            continue
        first = seen.touch(f"exp|{backend}|{row.id}", now)
        if now - first > limits.ended_s:
            continue
        whole = row.id == "header"
        yield AttentionItem(CRIT if whole else WARN, "tuning_failed" if whole else "experiment_failed",
                    f"tuning {backend}" if whole else f"experiment {row.exp.lstrip('*')} ({backend})",
                    safe(row.why or row.parameters, 90) or "failed", row.phase_at or first,
                    Jump("experiments", backend, row))


RULES = (compose_rule, pylet_rule, sllm_rule, build_rule, experiment_rule)

# -- events ---------------------------------------------------------------------------------

State = dict[str, Any]


def _changes(kind: str, label: str, old: State, new: State, bad: Mapping[str, str], *, new_too: bool = True):
    """One event per row whose state changed (and, with `new_too`, per new row once a
    baseline exists); `bad` gives the severity of the states that are faults."""
    for key, state in new.items():
        before = old.get(key)
        if before is None:
            if new_too:  # the detector keeps the first look as a baseline
                yield f"{kind}.new", f"{label} {key}", f"new, {state}", bad.get(str(state), INFO)
            continue
        if before != state:
            yield f"{kind}.state", f"{label} {key}", f"{before} -> {state}", bad.get(str(state), INFO)
    for key in old:
        if key not in new:
            yield f"{kind}.gone", f"{label} {key}", "no longer listed", INFO


def _compose(rows) -> State:
    return {r.name: f"{r.state}" + (f" ({r.health})" if r.health else "") for r in rows if r.kind == "service"}


def _compose_events(old: State, new: State):
    bad = {s: CRIT for s in set(new.values()) if "unhealthy" in s or s.startswith(("exited", "dead"))}
    yield from _changes("compose", "compose", old, new, bad)


def _pylet_workers(rows) -> State:
    return {r.id[:8]: r.status for r in rows}


def _pylet_worker_events(old: State, new: State):
    yield from _changes("pylet.worker", "Pylet worker", old, new, {"SUSPECT": WARN, "OFFLINE": CRIT})


def _pylet_instances(rows) -> State:
    return {r.name or r.id[:8]: r.status for r in rows}


def _pylet_instance_events(old: State, new: State):
    yield from _changes("pylet.instance", "Pylet instance", old, new, {"FAILED": CRIT, "UNKNOWN": WARN})


def _sllm(rows) -> State:
    return {r.sllm: f"{r.status}, pylet {'connected' if r.pylet_connected else 'not connected'}" for r in rows}


def _sllm_events(old: State, new: State):
    bad = {s: CRIT for s in set(new.values()) if s.endswith("not connected")}
    yield from _changes("sllm.head", "sllm head", old, new, bad)


def _builds(rows) -> State:
    return {r.tag or r.id: r.state for r in rows}


def _build_events(old: State, new: State):
    yield from _changes("build", "build", old, new, {"failed": CRIT, "lost": WARN})


def _experiments(rows) -> State:
    return {("tuning" if r.id == "header" else r.id): r.phase for r in rows}


def _experiment_events(old: State, new: State):
    yield from _changes("tuner", "experiment", old, new, {"failed": WARN})


PANES = {
    "compose": (_compose, _compose_events),
    "pylet_workers": (_pylet_workers, _pylet_worker_events),
    "pylet_instances": (_pylet_instances, _pylet_instance_events),
    "sllm_heads": (_sllm, _sllm_events),
    "builds": (_builds, _build_events),
    "experiments": (_experiments, _experiment_events),
}

# -- blocks ---------------------------------------------------------------------------------


def compose_block(snapshots: Mapping[str, Snapshot]):
    services = [(k, r) for k, r in rows_of(snapshots, "compose") if r.kind == "service"]
    projects = [(k, r) for k, r in rows_of(snapshots, "compose") if r.kind == "project"]
    rows = []
    for backend, r in services:
        if r.health == "unhealthy" or r.state in ("exited", "dead"):
            rows.append(BlockRow((safe(r.name, 28), r.state, r.health or "—"), CRIT if r.health == "unhealthy"
                                   or r.exit_code not in (0, None) else WARN, Jump("compose", backend, r)))
    for backend, r in projects:
        level = {"unhealthy": CRIT}.get(r.health, "")
        rows.append(BlockRow((safe(r.project, 28), r.state, r.health or "—"), level, Jump("compose", backend, r)))
    shown, more = clip(rows)
    running = sum(1 for _, r in services if r.state == "running")
    return Block("compose", "Compose", ("project", "state", "health"), shown, more,
                   f"{len(projects)} projects, {running}/{len(services)} services running" if projects else "none")


def pylet_block(snapshots: Mapping[str, Snapshot]):
    workers = rows_of(snapshots, "pylet_workers")
    instances = rows_of(snapshots, "pylet_instances")
    rows = []
    level = {"OFFLINE": CRIT, "SUSPECT": WARN}
    for backend, w in sorted(workers, key=lambda e: (e[1].status == "ONLINE", e[1].id)):
        rows.append(BlockRow((f"worker {w.id[:8]}", w.status, f"GPUs {w.gpus} free"), level.get(w.status, ""),
                               Jump("pylet_workers", backend, w)))
    counts = Counter((k, i.status) for k, i in instances)
    first: dict[tuple[str, str], Any] = {}
    for backend, inst in instances:
        first.setdefault((backend, inst.status), inst)
    ilevel = {"FAILED": CRIT, "UNKNOWN": WARN}
    for (backend, status), n in sorted(counts.items(), key=lambda kv: (kv[0][1] not in ilevel, kv[0])):
        rows.append(BlockRow((f"{n} instances", status, backend), ilevel.get(status, ""),
                               Jump("pylet_instances", backend, first[(backend, status)])))
    shown, more = clip(rows)
    online = sum(1 for _, w in workers if w.status == "ONLINE")
    return Block("pylet_workers", "Pylet", ("what", "status", "detail"), shown, more,
                   f"{online}/{len(workers)} workers online, {len(instances)} instances" if workers or instances else "none")


def sllm_block(snapshots: Mapping[str, Snapshot]):
    down = {s.backend: s for s in snapshots.values() if s.kind == "sllm" and s.state.health.value == "down"}
    rows = []
    for backend, h in rows_of(snapshots, "sllm_heads"):  # a head down keeps its last row: shown as down
        bad = h.pylet_connected is False or backend in down
        rows.append(BlockRow((safe(backend, 16), "down" if backend in down else h.status,
                              "yes" if h.pylet_connected else "NO" if h.pylet_connected is False else "—",
                              f"{h.models} models, {h.nodes} nodes"), CRIT if bad else "", Jump("sllm_heads", backend, h)))
    shown_heads = {backend for backend, _ in rows_of(snapshots, "sllm_heads")}
    for name, s in down.items():
        if name not in shown_heads:
            rows.append(BlockRow((safe(name, 16), "down", "—", safe(s.state.message, 30)), CRIT,
                                 Jump("backends", "servedeck", BackendRef(name))))
    shown, more = clip(rows)
    return Block("sllm_heads", "sllm heads", ("head", "status", "pylet", "serving"), shown, more,
                 f"{len(rows) - len(down)}/{len(rows)} answering" if rows else "none")


def builds_block(snapshots: Mapping[str, Snapshot]):
    entries = rows_of(snapshots, "builds")
    order = {"failed": 0, "lost": 1, "running": 2}
    entries.sort(key=lambda e: (order.get(e[1].state, 3), -(e[1].started_at or 0)))
    rows = [BlockRow((safe(r.tag or r.id, 30), r.state, r.progress), CRIT if r.state == "failed" else
                       WARN if r.state == "lost" else "", Jump("builds", backend, r)) for backend, r in entries]
    shown, more = clip(rows)
    states = Counter(r.state for _, r in entries)
    return Block("builds", "Dynamo builds", ("build", "state", "step"), shown, more,
                   ", ".join(f"{n} {s}" for s, n in sorted(states.items())) if entries else "none")


def experiments_block(snapshots: Mapping[str, Snapshot]):
    entries = rows_of(snapshots, "experiments")
    rows = []
    for backend, r in entries:
        if r.id == "header":
            rows.insert(0, BlockRow((safe(backend, 16), r.phase, safe(r.parameters, 40)),
                                      CRIT if r.phase == "failed" else "", Jump("experiments", backend, r)))
        elif r.phase == "failed" or r.exp.startswith("*"):
            rows.append(BlockRow((r.exp, r.phase, safe(r.why or r.parameters, 40)), WARN if r.phase == "failed" else "",
                                   Jump("experiments", backend, r)))
    shown, more = clip(rows)
    exps = [r for _, r in entries if r.id != "header"]
    failed = sum(1 for r in exps if r.phase == "failed")
    return Block("experiments", "Autotuner", ("tuning", "phase", "detail"), shown, more,
                   f"{len(exps)} experiments, {failed} failed" if entries else "no tuning run")


BLOCKS = (compose_block, pylet_block, sllm_block, builds_block, experiments_block)
FED_BY = frozenset({"compose", "pylet_workers", "pylet_instances", "sllm_heads", "builds", "experiments"})
