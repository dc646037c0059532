"""Observes SLURM, routers and workers, runs `decide` per deployment, applies the effects.

Two cadences. SLURM is watched every `orchestrator.slurm_watch_s` with one squeue for
every deployment, and a deployment is reconciled at once when its jobs changed, a timer
of its ran out (drain grace, backoff) or a probe of its is due; its health pass (router
list, a probe of every worker) runs every `health.interval_s`. A booting worker is probed
as soon as its job runs and then on the watch's cadence until the configured OK count
makes it ready; a ready worker whose last probe failed is probed again on that cadence
too. A watch that changed nothing costs one squeue, parsed once per distinct output.
Every effect is followed by a state save, and a worker is recorded before its sbatch
runs (see state.py). SLURM and router errors are counted, logged and backed off per
deployment; they never end the service.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from copy import deepcopy
from pathlib import Path
from typing import Callable

from servedeck.backends.ssh.ports import listening_ports
from servedeck.orchestrator import policy, sbatch
from servedeck.orchestrator.adapters import RouterClient, RouterError, SlurmCLI, SlurmError, SlurmJob
from servedeck.orchestrator.config import Deployment, SGOrchConfig
from servedeck.orchestrator.health import HealthProber
from servedeck.orchestrator.logging_json import log
from servedeck.orchestrator.metrics import Metrics
from servedeck.orchestrator.node_probe import NodeProber
from servedeck.orchestrator.notify import Notifier
from servedeck.orchestrator.reconciler import Effect, Facts, decide
from servedeck.orchestrator.state import (
    CANCELLING, DRAINING, PENDING, READY, STARTING, SUBMITTING, UNHEALTHY, DeploymentState, State, StateStore,
    Transition, Worker,
)
from servedeck.orchestrator.tunneling import Tunnels

_LOG_TAIL = 65536
BOOT_FAST_S = 30.0  # a new worker is probed 4x per watch until it first answers, this long at most
FAST_WATCH_S = 5.0  # after a submit, squeue is watched 4x as often this long: a job usually starts at once
PORT_HOLD_S = 600.0  # a port whose worker the router may still add is not reused this long (state.held_ports)
# Fault injection for the crash tests: kill -9 ourselves at a named point (never set in production).
CRASH_AT = os.environ.get("SERVEDECK_ORCH_CRASH_AT", "")


class _Once:
    """A value computed on first use and kept for the pass (the listening ports, read
    only when a pass picks a port)."""

    def __init__(self, fn: Callable[[], set[int]]):
        self._fn, self._value = fn, None

    def __call__(self) -> set[int]:
        if self._value is None:
            self._value = self._fn()
        return self._value


def _crash_point(name: str) -> None:
    if CRASH_AT == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Engine:
    def __init__(self, config: SGOrchConfig, *, slurm: SlurmCLI | None = None, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time, tunnels: Tunnels | None = None):
        self.config = config
        self.clock = clock
        self.state_dir = config.orchestrator.state_path()
        self.store = StateStore(config.orchestrator.state_file())
        self.state: State = self.store.load()
        self.slurm = slurm or SlurmCLI(timeout=max(d.slurm.command_timeout_s for d in config.deployments))
        self.metrics = metrics or Metrics()
        self.prober = HealthProber()
        self.notifier = Notifier(config.orchestrator.notifications)
        self.node_prober = NodeProber(config.orchestrator.node_probe, self.metrics)
        self.tunnels = tunnels or Tunnels(config)
        self.routers = {d.name: RouterClient(d.name, d.router) for d in config.deployments if d.router}
        self.lock = threading.RLock()  # guards self.state against the control thread
        self.watch_s = config.orchestrator.slurm_watch_s
        self._due: dict[str, float] = {}  # next health pass, by deployment
        self._next_watch = 0.0
        self._fast_watch_until = 0.0  # FAST_WATCH_S after the last submit
        self._seen: dict[str, object] = {}  # the jobs each deployment was last reconciled on
        self._wake: dict[str, float] = {}  # the next drain deadline, backoff end or fast probe, by deployment
        self._probe_at: dict[tuple[str, str], float] = {}  # next fast probe of a booting or failing worker
        self._soon: set[str] = set()  # deployments with a new worker to probe now
        self._taken_ports: set[int] = set()
        self.allow_submit = True  # `adopt` runs passes that never submit
        self.dry_run = False  # `adopt --dry-run`: decide on a copy, record, change nothing
        self.readonly = False  # `--readonly` / `readonly: true`: watch, log what it would do, change nothing
        self._would: dict[str, tuple[str, ...]] = {}  # read-only: what each deployment last wanted
        self.planned: list[tuple[str, Effect]] = []
        self.dry_timeline: list[tuple[str, Transition]] = []
        for d in config.deployments:
            self.state.deployment(d.name)
            self.metrics.desired.labels(d.name).set(self.state.deployment(d.name).desired(d.replicas))

    # -- one pass -----------------------------------------------------------------------

    def run_pass(self, force: bool = False) -> float:
        """Reconcile what is due (everything with `force`); returns seconds until the next
        thing is due."""
        now = self.clock()
        deps = self.config.deployments
        health = {d.name for d in deps if force or self._due.get(d.name, 0.0) <= now}
        woken = {name for name, at in self._wake.items() if at <= now} | self._soon
        if not (force or health or woken or now >= self._next_watch):
            return self._wait(now)
        # Always a fresh squeue: jobs seen before this pass's submits would read as gone.
        fast = now < self._fast_watch_until and any(
            w.phase in (SUBMITTING, PENDING) for d in self.state.deployments.values() for w in d.workers.values())
        self._next_watch = now + (self.watch_s / 4 if fast else self.watch_s)
        jobs = self._jobs(deps, health)
        busy = _Once(listening_ports)  # read only when a port is picked
        for dep in deps:
            probe: set[str] | None = None  # None: every worker (the health pass)
            if dep.name in health:
                self._due[dep.name] = now + dep.health.interval_s
            else:
                probe = self._fast_probes(dep, now)
                if not (probe or dep.name in woken or self._seen.get(dep.name) != self._jobs_key(dep, jobs)):
                    continue
            self._soon.discard(dep.name)
            try:
                self._reconcile(dep, jobs, busy, probe)
            except Exception as exc:  # a bug in one deployment must not stop the others
                log("reconcile_error", f"reconcile failed: {type(exc).__name__}: {exc}",
                    level=logging.ERROR, deployment=dep.name)
        return self._wait(self.clock())

    def _wait(self, now: float) -> float:
        if self._soon:
            return 0.0
        times = [self._next_watch, *self._due.values(), *self._wake.values()]
        return max(0.0, min(times) - now)

    def _jobs_key(self, dep: Deployment, jobs: dict[str, dict[str, SlurmJob]] | None):
        """What `decide` reads of this deployment's jobs; equal keys mean nothing changed."""
        if jobs is None:
            return None
        predrain = dep.policy.predrain_seconds_before_walltime
        return frozenset((iid, j.job_id, j.state, j.node, j.marker,
                          j.time_left_s is not None and j.time_left_s <= predrain)
                         for iid, j in jobs.get(dep.name, {}).items())

    def _fast_probes(self, dep: Deployment, now: float) -> set[str]:
        """Workers due a probe between health passes: booting ones, and ready ones whose
        last probe failed."""
        out = set()
        with self.lock:
            for w in self.state.deployment(dep.name).workers.values():
                if (w.url and (w.phase == STARTING or (w.phase == READY and w.fail_streak > 0))
                        and self._probe_at.get((dep.name, w.instance_id), 0.0) <= now):
                    out.add(w.instance_id)
        return out

    def _probe_step(self, dep: Deployment, w: Worker | None, ok: bool, now: float) -> float:
        """Seconds to a booting or failing worker's next probe: a quarter of the watch while
        a new worker has not answered yet (its first 30 s), then the watch's cadence (or the
        health interval, when shorter)."""
        step = min(dep.health.interval_s, self.watch_s)
        if (not ok and w is not None and w.phase == STARTING and w.ok_streak == 0 and w.started_at is not None
                and now - w.started_at < BOOT_FAST_S):
            return step / 4
        return step

    def _after(self, dep: Deployment, s: DeploymentState, jobs, now: float, acted: bool = True) -> None:
        """Remember what this reconcile saw and when the deployment next needs one (only
        future times: a deadline that passed was acted on, or waits for the next watch)."""
        self._seen[dep.name] = self._jobs_key(dep, jobs)
        for key in [k for k in self._probe_at if k[0] == dep.name and k[1] not in s.workers]:
            del self._probe_at[key]
        times: list = []
        if acted:  # read-only and dry runs decide on a copy each time: their health passes suffice
            times += [w.drain_deadline for w in s.workers.values() if w.phase == DRAINING and w.drain_deadline]
            times += [s.next_submit_at, s.breaker_open_until, s.error_backoff_until]
            times += [now + self.watch_s for w in s.workers.values() if w.registered and not w.listed]
            fast = [(dep.name, w.instance_id) for w in s.workers.values()
                    if w.url and (w.phase == STARTING or (w.phase == READY and w.fail_streak))]
            times += [self._probe_at[key] for key in fast if key in self._probe_at]
            if any(key not in self._probe_at and s.workers[key[1]].phase == STARTING for key in fast):
                self._soon.add(dep.name)  # its job runs now: probe it without waiting
        future = [t for t in times if t and t > now]
        self._wake[dep.name] = min(future) if future else float("inf")

    def _jobs(self, due: list[Deployment], health: set[str]) -> dict[str, dict[str, SlurmJob]] | None:
        """One squeue for every deployment, split by the job's marker. A failure counts and
        backs off for the deployments whose health pass this is (a failing watch between
        them would otherwise log and back off every second)."""
        prefixes = {d.slurm.job_name_prefix for d in due}
        common = min(prefixes, key=len) if len(prefixes) == 1 else ""
        try:
            found = self.slurm.jobs(common)
        except SlurmError as exc:
            failed = [dep for dep in due if dep.name in health]
            for dep in failed:
                self.metrics.slurm_errors.labels(dep.name, exc.operation).inc()
                with self.lock:
                    policy.error_backoff(self.state.deployment(dep.name), self.clock())
            if failed:
                log("slurm_error", f"squeue failed: {exc.message}", level=logging.WARNING)
            return None
        by_dep: dict[str, dict[str, SlurmJob]] = {d.name: {} for d in due}
        names = {d.name: d.job_name for d in due}
        for job in found:
            m = job.marker
            if m is not None and m.deployment in by_dep and job.name == names[m.deployment]:
                current = by_dep[m.deployment].get(m.instance_id)
                if current is None or (job.active and not current.active):
                    by_dep[m.deployment][m.instance_id] = job
        return by_dep

    def _reconcile(self, dep: Deployment, jobs: dict | None, busy: "_Once", probe: set[str] | None = None) -> None:
        """One deployment: router list, probes (of every worker, or of `probe`), decide, apply."""
        s = self.state.deployment(dep.name)
        router_rows = None
        # The router is listed on health passes, and between them only to confirm a new
        # registration; a deregistration lists it when it needs the row (_do_deregister).
        look = probe is None or any(w.registered and not w.listed for w in s.workers.values())
        if dep.router is not None and look:
            try:
                router_rows = self.routers[dep.name].workers()
            except RouterError as exc:
                self.metrics.router_errors.labels(dep.name, exc.operation).inc()
                log("router_error", f"router {exc.operation} failed: {exc.message}", level=logging.WARNING,
                    deployment=dep.name)
        dep_jobs = None if jobs is None else jobs.get(dep.name, {})
        with self.lock:
            if not (self.dry_run or self.readonly):
                self._tunnel_ports(dep, s)  # before the probes: a probe of a tunnel not yet (re)opened fails
            targets = [(w.instance_id, w.url + dep.health.path) for w in s.workers.values()
                       if w.url and w.phase in (STARTING, READY) and (probe is None or w.instance_id in probe)]
            ready_lines = self._ready_lines(dep, s)
        probes = self.prober.probe_many(targets, dep.health.timeout_s, dep.health.headers)
        now = self.clock()
        for iid in probes:
            self._probe_at[(dep.name, iid)] = now + self._probe_step(dep, s.workers.get(iid), probes[iid].ok, now)
        facts = Facts(now=now, jobs=dep_jobs, router=router_rows, health=probes, ready_lines=ready_lines)
        if self.dry_run or self.readonly:
            copy = deepcopy(s)
            effects = decide(dep, copy, facts, new_port=lambda: self._port(dep, busy))
            if self.readonly:
                self._log_would(dep, effects)
                self._after(dep, copy, jobs, now, acted=False)
                return
            self.planned += [(dep.name, e) for e in effects if self.allow_submit or e.kind != "submit"]
            self.dry_timeline += [(dep.name, t) for t in copy.since(s.seq)]
            self._after(dep, copy, jobs, now, acted=False)
            return
        with self.lock:
            before = dict(s.restarts)
            mark, breaker, blacklist = s.seq, s.breaker_open_until, set(s.blacklist)
            effects = decide(dep, s, facts, new_port=lambda: self._port(dep, busy))
            if not self.allow_submit:
                effects = [e for e in effects if e.kind != "submit"]
            if s.error_backoff_until > self.clock():  # router/SLURM trouble: retry later, with jitter
                effects = [e for e in effects if e.kind not in ("register", "remove_stale")]
            self._save()
            self._log_timeline(dep, s, mark)
            failed = False
            for effect in effects:
                failed = not self._apply(dep, s, effect, router_rows) or failed
            self._count_restarts(dep, before, s.restarts)
            self._notify(dep, s, breaker, blacklist)
            if (not failed and jobs is not None and (router_rows is not None or dep.router is None)
                    and self.clock() >= s.error_backoff_until):
                policy.error_cleared(s)  # a clean pass after the backoff ran out
            self._gauges(dep, s)
            self.node_prober.tick(dep.name, [w.url for w in s.workers.values() if w.phase == READY and w.url],
                                  dep.launch.model)
            self._after(dep, s, jobs, self.clock())

    def _log_would(self, dep: Deployment, effects: list[Effect]) -> None:
        """Read-only: say once what this deployment would do (no submit, no registration)."""
        would = tuple(sorted(f"{e.kind} {e.instance_id or (e.row.url if e.row else '')}".strip() for e in effects))
        if would and would != self._would.get(dep.name):
            log("readonly_skipped", f"read-only: not doing {', '.join(would)}", deployment=dep.name)
        self._would[dep.name] = would

    # -- effects ------------------------------------------------------------------------

    def _apply(self, dep: Deployment, s: DeploymentState, effect: Effect, rows) -> bool:
        """Carry out one effect and save; False when SLURM or the router refused it."""
        mark, ok = s.seq, False
        try:
            getattr(self, f"_do_{effect.kind}")(dep, s, effect, rows)
            ok = True
        except SlurmError as exc:
            if effect.kind == "submit":
                self.notifier.notify("replacement_failed", f"submitting a worker failed: {exc.message}",
                                     deployment=dep.name)
            self.metrics.slurm_errors.labels(dep.name, exc.operation).inc()
            policy.error_backoff(s, self.clock())
            log("slurm_error", f"{exc.operation} failed: {exc.message}", level=logging.WARNING, deployment=dep.name)
        except RouterError as exc:
            self.metrics.router_errors.labels(dep.name, exc.operation).inc()
            policy.error_backoff(s, self.clock())
            log("router_error", f"router {exc.operation} failed: {exc.message}", level=logging.WARNING,
                deployment=dep.name)
        self._save()
        self._log_timeline(dep, s, mark)
        return ok

    def _do_submit(self, dep: Deployment, s: DeploymentState, e: Effect, rows) -> None:
        now = self.clock()
        w = Worker(instance_id=e.instance_id, port=e.port, phase=SUBMITTING, phase_since=now)
        c = dep.connectivity
        if c.mode == "tunneled" and c.tunnel_mode == "reverse":
            known = {x.local_port for d in self.state.deployments.values() for x in d.workers.values() if x.local_port}
            known |= self._held(now)
            try:
                w.local_port = self.tunnels.reserve(dep, known)
            except RuntimeError as exc:
                del s.workers[w.instance_id]
                raise SlurmError("ports", str(exc)) from None
        s.workers[w.instance_id] = w
        s.note(w, SUBMITTING, f"port {e.port}", now)
        self._save()  # recorded before sbatch: a crash here cannot duplicate the job
        script = sbatch.render(dep, w.instance_id, w.port, policy.excluded_nodes(s, now), rport=w.local_port)
        path = self.state_dir / "scripts" / f"{dep.name}-{w.instance_id}.sbatch"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script)
        Path(sbatch.log_dir(dep)).mkdir(parents=True, exist_ok=True)
        try:
            job_id = self.slurm.submit(path)
            _crash_point("submit")  # sbatch done, job id not saved yet
            w.job_id = job_id
        except SlurmError:
            del s.workers[w.instance_id]
            self._taken_ports.discard(w.port)
            if w.local_port:
                self.tunnels.release(w.local_port)
            s.note(w, "forgotten", "sbatch failed", self.clock())
            raise
        s.note(w, "pending", f"submitted job {w.job_id}", self.clock())
        self._fast_watch_until = self.clock() + FAST_WATCH_S

    def _do_register(self, dep: Deployment, s: DeploymentState, e: Effect, rows) -> None:
        w = s.workers.get(e.instance_id)
        if w is None or not w.url:
            return
        self.routers[dep.name].add(w.url)
        _crash_point("register")  # the router has it, our state does not say so yet
        w.registered, w.registered_at = True, self.clock()
        s.note(w, READY, "registered in the router", self.clock(), event="worker_registered")

    def _do_deregister(self, dep: Deployment, s: DeploymentState, e: Effect, rows) -> None:
        w = s.workers.get(e.instance_id)
        if w is None or dep.router is None:
            return
        if rows is None:
            rows = self.routers[dep.name].workers()
        row = next((r for r in rows if r.url.rstrip("/") == w.url.rstrip("/")), None)
        if row is None and not w.listed:
            # Accepted but never listed: a 0.3.x router lists a worker once its add has run,
            # and that waits for the URL to answer. Nothing to remove yet; it stays registered,
            # so the removal is tried again when its job is gone, and _do_forget holds its port.
            s.note(w, w.phase, "not listed by the router yet: removal retried later", self.clock(),
                   event="worker_deregister_pending")
            return
        if row is not None:
            self.routers[dep.name].remove(row)
        _crash_point("drain")  # removed from the router, not yet cancelled
        w.registered = False
        s.note(w, w.phase, "removed from the router", self.clock(), event="worker_deregistered")

    def _do_cancel(self, dep: Deployment, s: DeploymentState, e: Effect, rows) -> None:
        w = s.workers.get(e.instance_id)
        if w is not None and w.job_id:
            self.slurm.cancel(w.job_id)
            s.note(w, CANCELLING, f"scancel {w.job_id}", self.clock())

    def _do_forget(self, dep: Deployment, s: DeploymentState, e: Effect, rows) -> None:
        w = s.workers.pop(e.instance_id, None)
        if w is not None and w.registered and dep.router is not None:
            # The router may list it still or later (a failed removal, an add still running):
            # the next worker must not get its URL, or that row would read as the new worker's
            # while it boots. A row that shows with no worker behind it is removed as stale.
            port = w.local_port if dep.connectivity.mode == "tunneled" else w.port
            if port:
                s.held_ports[str(port)] = self.clock() + PORT_HOLD_S
        if w is not None:
            self._taken_ports.discard(w.port)
            self.tunnels.close(dep, w)
            if w.local_port:
                self.tunnels.release(w.local_port)

    def _do_remove_stale(self, dep: Deployment, s: DeploymentState, e: Effect, rows) -> None:
        if e.row is not None:
            self.routers[dep.name].remove(e.row)
            log("router_stale_removed", f"removed router entry {e.row.url}: no worker of ours behind it",
                deployment=dep.name, worker_url=e.row.url)

    # -- helpers ------------------------------------------------------------------------

    def _held(self, now: float) -> set[int]:
        """Ports held for workers the router may still list (expired holds are dropped)."""
        held = set()
        for d in self.state.deployments.values():
            for port, until in list(d.held_ports.items()):
                if until <= now:
                    del d.held_ports[port]
                else:
                    held.add(int(port))
        return held

    def _port(self, dep: Deployment, busy: "_Once") -> int:
        used = self._taken_ports | busy()
        used |= {w.port for d in self.state.deployments.values() for w in d.workers.values()}
        if dep.connectivity.mode != "tunneled":  # tunneled: the URL's port is the local one (held in _do_submit)
            used |= self._held(self.clock())
        lo, hi = dep.connectivity.worker_port_range
        for port in range(lo, hi + 1):
            if port not in used:
                self._taken_ports.add(port)
                return port
        raise SlurmError("ports", f"no free port in {lo}-{hi}")

    def _tunnel_ports(self, dep: Deployment, s: DeploymentState) -> None:
        """Tunneled modes: open (or re-open) each running worker's tunnel; sets its url."""
        if dep.connectivity.mode != "tunneled":
            return
        avoid = None
        for w in s.workers.values():
            if w.node and w.phase in (STARTING, READY, UNHEALTHY):
                if avoid is None and not w.local_port:
                    avoid = frozenset(self._held(self.clock()))
                self.tunnels.ensure(dep, w, avoid or frozenset())

    def _ready_lines(self, dep: Deployment, s: DeploymentState) -> frozenset[str]:
        found = set()
        for w in s.workers.values():
            if w.phase in (PENDING, STARTING) and w.adopted and not w.ready_seen and w.job_id:
                try:
                    with open(sbatch.log_path(dep, w.job_id), "rb") as handle:
                        handle.seek(0, 2)
                        handle.seek(max(0, handle.tell() - _LOG_TAIL))
                        text = handle.read().decode(errors="replace")
                except OSError:
                    continue
                if sbatch.ready_in_log(text, w.instance_id):
                    found.add(w.instance_id)
        return frozenset(found)

    def _save(self) -> None:
        self.store.save(self.state)

    def _count_restarts(self, dep: Deployment, before: dict[str, int], after: dict[str, int]) -> None:
        for reason, count in after.items():
            if count > before.get(reason, 0):
                self.metrics.restarts.labels(dep.name, reason).inc(count - before.get(reason, 0))

    def _gauges(self, dep: Deployment, s: DeploymentState) -> None:
        workers = list(s.workers.values())
        self.metrics.desired.labels(dep.name).set(s.desired(dep.replicas))
        self.metrics.ready.labels(dep.name).set(sum(1 for w in workers if w.phase == READY))
        self.metrics.unhealthy.labels(dep.name).set(
            sum(1 for w in workers if w.phase == UNHEALTHY or (w.phase == READY and w.fail_streak > 0)))
        c = dep.connectivity
        if c.mode == "tunneled" and c.tunnel_mode == "reverse":  # opened by the jobs: up when answering
            up = sum(1 for w in workers if w.local_port and w.ok_streak > 0)
        else:
            up = self.tunnels.up_count(dep)
        self.metrics.tunnels_up.labels(dep.name).set(up)

    def _notify(self, dep: Deployment, s: DeploymentState, breaker: float, blacklist: set[str]) -> None:
        """Notifications (log_only: a WARNING/ERROR line with its own event) for what an
        operator must know about: the circuit breaker opening, a node blacklisted."""
        if s.breaker_open_until > breaker and s.breaker_open_until > self.clock():
            self.notifier.notify("circuit_open", f"{s.failures} replacements in a row failed: holding {dep.name} at "
                                 f"{sum(1 for w in s.workers.values() if w.phase == READY)} ready workers for "
                                 f"{dep.policy.circuit_breaker_cooldown_s:g}s", deployment=dep.name)
        for node in sorted(set(s.blacklist) - blacklist):
            self.notifier.notify("node_blacklisted",
                                 f"node {node} blacklisted for {dep.policy.node_blacklist_cooldown_s:g}s",
                                 deployment=dep.name)

    def _log_timeline(self, dep: Deployment, s: DeploymentState, mark: int) -> None:
        for t in s.since(mark):
            w = s.workers.get(t.instance_id)
            if t.phase == UNHEALTHY:  # a new worker that never came up is a failed replacement
                event = "replacement_failed" if t.reason.startswith("not healthy within") else "worker_unhealthy"
                self.notifier.notify(event, f"worker {t.instance_id} (job {t.job_id or '-'}): {t.reason}",
                                     deployment=dep.name)
            level = logging.WARNING if t.phase in (UNHEALTHY, "gone") or "failed" in t.reason else logging.INFO
            log(t.event or f"worker_{t.phase}", t.reason, level=level, deployment=dep.name, job_id=t.job_id,
                worker_url=w.url if w else "")

    def close(self) -> None:
        self.notifier.close()
        self.node_prober.close()
        self.prober.close()
        self.tunnels.close_all()
        for router in self.routers.values():
            router.close()
