"""One reconcile pass for one deployment: observed facts + persisted state -> effects.

`decide` is the whole policy and touches no service: it updates the in-memory state
(health streaks, phases, timeline, backoff) and returns the side effects to carry out
(submit, register, deregister, cancel, forget, remove a stale router entry), in order.
`engine.apply` performs them, saving the state after each. Tests drive `decide` with
hand-made facts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable

from servedeck.backends.rows import WorkerRow
from servedeck.orchestrator import policy
from servedeck.orchestrator.adapters import NODE_FAILURES, SlurmJob
from servedeck.orchestrator.config import Deployment
from servedeck.orchestrator.health import Probe
from servedeck.orchestrator.state import (
    CANCELLING, DRAINING, PENDING, READY, SERVING, STARTING, SUBMITTING, UNHEALTHY, DeploymentState, Worker,
)
from servedeck.backends.router.match import host_port


REGISTER_CONFIRM_S = 10.0  # a 0.3.x router lists an added worker once it has probed it


@dataclass(frozen=True)
class Facts:
    """What one observation found. `jobs`/`router` are None when that service failed."""

    now: float
    jobs: dict[str, SlurmJob] | None  # by instance id, this deployment's marked jobs
    router: tuple[WorkerRow, ...] | None
    health: dict[str, Probe] = field(default_factory=dict)  # by instance id
    ready_lines: frozenset[str] = frozenset()  # instance ids whose log has the READY line


@dataclass(frozen=True)
class Effect:
    kind: str  # submit | register | deregister | cancel | forget | remove_stale
    instance_id: str = ""
    port: int = 0
    row: WorkerRow | None = None


def address(dep: Deployment, node: str, worker: Worker) -> str:
    """The URL the router uses: the node directly, or our end of the tunnel."""
    c = dep.connectivity
    if c.mode == "tunneled":
        if worker.local_port is None:
            return ""
        return f"http://{c.advertise_host}:{worker.local_port}"
    return f"http://{c.node_address.replace('{node}', node.split(',')[0])}:{worker.port}"


def serving(s: DeploymentState) -> list[Worker]:
    """Workers that count towards the desired replicas (retiring ones do not)."""
    return [w for w in s.workers.values() if w.phase in SERVING and not w.retiring]


def decide(dep: Deployment, s: DeploymentState, f: Facts, *, new_port: Callable[[], int],
           new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12]) -> list[Effect]:
    effects: list[Effect] = []
    now, p = f.now, dep.policy
    urls = {r.url.rstrip("/"): r for r in (f.router or ())}
    if f.jobs is not None:
        _adopt(dep, s, f)
    for w in list(s.workers.values()):
        job = f.jobs.get(w.instance_id) if f.jobs is not None else None
        if f.jobs is None:
            continue  # SLURM unknown this pass: change nothing about jobs
        if w.phase == SUBMITTING:
            if job is None:
                s.note(w, "forgotten", "sbatch never completed (no job carries this instance)", now)
                effects.append(Effect("forget", w.instance_id))
                continue
            w.job_id = job.job_id
            s.note(w, PENDING, "job found after restart", now)
        if job is None or not job.active:
            effects += _gone(dep, s, w, job, now)
            continue
        if job.node and job.state == "RUNNING":
            w.node = job.node
        if w.phase == PENDING and job.state == "RUNNING":
            w.started_at = now if w.started_at is None else w.started_at
            s.note(w, STARTING, f"running on {w.node}", now)
        if w.node and not w.url:
            w.url = address(dep, w.node, w)
        if w.url and f.router is not None:
            listed = w.listed = w.url.rstrip("/") in urls
            if listed and not w.registered and w.phase in (READY, STARTING):
                w.registered = True
            elif (not listed and w.registered and w.phase == READY
                  and now - (w.registered_at or 0) > REGISTER_CONFIRM_S):
                w.registered = False
                s.note(w, READY, "the router no longer lists it: registering again", now)
        _health(dep, s, w, f.health.get(w.instance_id), w.instance_id in f.ready_lines, now)
        if (w.phase == READY and not w.retiring and job.time_left_s is not None
                and job.time_left_s <= p.predrain_seconds_before_walltime):
            w.retiring = True
            s.note(w, READY, f"walltime: {job.time_left_s}s left, bringing up a replacement first", now)
            s.restarts["walltime"] = s.restarts.get("walltime", 0) + 1
        if w.phase == READY and not w.registered and dep.router is not None and not w.retiring:
            effects.append(Effect("register", w.instance_id))
        if w.phase == UNHEALTHY:
            effects += _start_drain(dep, s, w, now, w.reason)
        elif w.drain_requested and w.phase in SERVING:
            effects += _start_drain(dep, s, w, now, "drained by the operator")
        if w.phase == DRAINING and w.drain_deadline is not None and now >= w.drain_deadline:
            s.note(w, CANCELLING, "grace period over", now)
            effects.append(Effect("cancel", w.instance_id))
    effects += _retire(dep, s, now)
    effects += _scale(dep, s, f, now, new_port, new_id)
    if f.router is not None and dep.router is not None and f.jobs is not None:
        effects += _stale(dep, s, f.router)
    return effects


def _adopt(dep: Deployment, s: DeploymentState, f: Facts) -> None:
    for iid, job in (f.jobs or {}).items():
        if iid in s.workers or not job.active or job.marker is None:
            continue
        w = Worker(instance_id=iid, port=job.marker.port, job_id=job.job_id, phase=PENDING, phase_since=f.now,
                   adopted=True, local_port=job.marker.rport)
        s.workers[iid] = w
        s.note(w, PENDING, f"adopted job {job.job_id} ({job.state})", f.now, event="worker_adopted")


def _gone(dep: Deployment, s: DeploymentState, w: Worker, job: SlurmJob | None, now: float) -> list[Effect]:
    effects = []
    if w.registered:
        effects.append(Effect("deregister", w.instance_id))
    state = job.state if job is not None else "gone"
    if w.phase in (DRAINING, CANCELLING):
        s.note(w, "gone", f"job ended ({state})", now)
    else:
        reason = "walltime" if state == "TIMEOUT" else ("node_failure" if state in NODE_FAILURES else "job_gone")
        if state in NODE_FAILURES and w.node:
            cooldown = dep.policy.node_blacklist_cooldown_s
            policy.blacklist(s, w.node.split(",")[0], dep.policy, now)
            s.note(w, "gone", f"node {w.node} failed ({state}): blacklisted for {cooldown:g}s", now)
        else:
            s.note(w, "gone", f"job {w.job_id} {state.lower()} behind our back", now)
        if reason == "walltime":
            s.restarts["walltime"] = s.restarts.get("walltime", 0) + 1
        elif policy.record_failure(s, dep.policy, now, reason):
            s.note(w, "gone", "circuit breaker opened: replacements keep failing", now)
    effects.append(Effect("forget", w.instance_id))
    return effects


def _health(dep: Deployment, s: DeploymentState, w: Worker, probe: Probe | None, ready_line: bool,
            now: float) -> None:
    if w.phase not in (STARTING, READY) or probe is None:
        return
    h, p = dep.health, dep.policy
    if ready_line:
        w.ready_seen = True
    if probe.ok:
        w.ok_streak, w.fail_streak = w.ok_streak + 1, 0
        needed = 1 if w.ready_seen and w.adopted else h.consecutive_ok_for_ready
        if w.phase == STARTING and w.ok_streak >= needed:
            s.note(w, READY, f"{w.ok_streak} healthy probes", now)
            policy.record_success(s)
            s.node_boot_failures.pop(w.node, None)
        return
    w.fail_streak, w.ok_streak = w.fail_streak + 1, 0
    if w.phase == READY and w.fail_streak >= h.failures_to_unhealthy:
        s.note(w, UNHEALTHY, f"{w.fail_streak} failed probes ({probe.detail})", now)
        policy.record_failure(s, p, now, "unhealthy")
    elif w.phase == STARTING and now - (w.started_at if w.started_at is not None else w.phase_since) > p.start_grace_period_s:
        blacklisted = policy.boot_failure(s, w.node.split(",")[0], p, now)
        extra = f"; node {w.node} blacklisted" if blacklisted else ""
        s.note(w, UNHEALTHY, f"not healthy within {p.start_grace_period_s:g}s ({probe.detail}){extra}", now)
        policy.record_failure(s, p, now, "boot_timeout")


def _start_drain(dep: Deployment, s: DeploymentState, w: Worker, now: float, reason: str) -> list[Effect]:
    effects = []
    grace = 0.0
    if w.registered:
        effects.append(Effect("deregister", w.instance_id))
        grace = dep.policy.deregister_grace_s
    w.drain_deadline = now + grace
    s.note(w, DRAINING, reason, now)
    return effects


def _retire(dep: Deployment, s: DeploymentState, now: float) -> list[Effect]:
    """Drain retiring workers once enough replacements serve (no capacity gap)."""
    retiring = [w for w in s.workers.values() if w.retiring and w.phase in (READY, STARTING, PENDING)]
    if not retiring:
        return []
    live = [w for w in serving(s) if w.phase == READY and ((w.registered and w.listed) or dep.router is None)]
    if len(live) < s.desired(dep.replicas):
        return []
    effects: list[Effect] = []
    for w in retiring:
        effects += _start_drain(dep, s, w, now, "replacement registered: draining the retiring worker")
    return effects


def _scale(dep: Deployment, s: DeploymentState, f: Facts, now: float, new_port: Callable[[], int],
           new_id: Callable[[], str]) -> list[Effect]:
    if f.jobs is None:
        return []
    desired = s.desired(dep.replicas)
    current = serving(s)
    effects: list[Effect] = []
    if len(current) > desired:
        order = {SUBMITTING: 0, PENDING: 1, STARTING: 2, READY: 3}
        extra = sorted(current, key=lambda w: (order.get(w.phase, 0), -w.phase_since))[: len(current) - desired]
        for w in extra:
            if w.phase == SUBMITTING:
                continue
            effects += _start_drain(dep, s, w, now, f"scale down to {desired}")
        return effects
    missing = desired - len(current)
    allowed, _why = policy.may_submit(s, now)
    if missing <= 0 or not allowed:
        return effects
    if s.failures >= dep.policy.circuit_breaker_failures:
        missing = min(missing, 1)  # half-open: one trial replacement at a time
        if any(w.phase in (SUBMITTING, PENDING, STARTING) for w in current):
            return effects
    for _ in range(missing):
        effects.append(Effect("submit", new_id(), new_port()))
    return effects


def _stale(dep: Deployment, s: DeploymentState, rows: tuple[WorkerRow, ...]) -> list[Effect]:
    """Router entries in our port range that no worker of ours stands behind."""
    c = dep.connectivity
    lo, hi = c.local_port_range if c.mode == "tunneled" else c.worker_port_range
    ours = {w.url.rstrip("/") for w in s.workers.values() if w.url}
    ports = {w.local_port if c.mode == "tunneled" else w.port for w in s.workers.values()}
    effects = []
    for row in rows:
        hp = host_port(row.url)
        if hp is None or not (lo <= hp[1] <= hi) or row.url.rstrip("/") in ours or hp[1] in ports:
            continue
        effects.append(Effect("remove_stale", row=row))
    return effects
