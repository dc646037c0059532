"""Draining a worker: remove it from the router -> wait the grace period -> cancel its
SLURM job -> confirm the job ended. The order matters: the router stops sending requests
before the process behind it goes away.

`run_drain` is a step machine that yields a `DrainEvent` as each step starts and ends,
so the CLI prints them and the TUI shows them (`draining` on the worker and job rows,
published on the board). A failed step stops the drain and says where. No Textual here.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from servedeck.backends.base import BackendError
from servedeck.backends.router.match import Board, match_worker, workers_of_job

_ENDED = {"", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
          "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}
_JOB_ID = re.compile(r"^\d+(?:_\d+)?$")


@dataclass(frozen=True)
class DrainEvent:
    step: str  # remove, grace, cancel, confirm, done
    status: str  # started, ok, failed, skipped
    text: str


@dataclass(frozen=True)
class DrainPlan:
    """What one drain acts on; either side may be missing (a worker without a job...)."""

    router: Any | None  # a RouterBackend
    worker: Any | None  # a WorkerRow
    slurm: Any | None  # a SlurmBackend
    job: Any | None  # a JobRow

    def describe(self) -> str:
        parts = []
        if self.worker is not None:
            parts.append(f"worker {self.worker.url} (router {self.router.name})")
        if self.job is not None:
            parts.append(f"job {self.job.job_id} {self.job.name!r} (cluster {self.slurm.name})")
        return " and ".join(parts) or "nothing"


class DrainError(Exception):
    """The drain target cannot be resolved; the message says why."""


def refresh_board(board: Board) -> None:
    """Fresh worker and job rows on the board before planning: the panes that would
    publish them may be hidden (then their backends are only pinged)."""
    for kind, pane in (("router", "workers"), ("slurm", "jobs")):
        for backend in board.backends(kind):
            try:
                backend.poll(frozenset({pane}))
            except BackendError:
                pass  # rows published before a partial failure still count; a down one has none


def plan_for(target: str, board: Board) -> DrainPlan:
    """Resolve WORKER_OR_JOB (a job id, a worker url or router worker id) on the board's
    latest rows into a plan, matching the other side with `worker_match`."""
    jobs, workers, tunnels = board.rows("jobs"), board.rows("workers"), board.rows("tunnels")
    if _JOB_ID.match(target):
        job = next((j for j in jobs if j.job_id == target), None)
        if job is None:
            raise DrainError(f"no job {target} in any configured cluster's queue")
        if job.state in _ENDED:
            raise DrainError(f"job {target} already ended ({job.state})")
        matched = workers_of_job(job, workers, tunnels)
        worker = matched[0] if matched else None
    else:
        worker = next((w for w in workers if target in (w.url, w.id, w.url.rstrip("/"))), None)
        if worker is None:
            raise DrainError(f"{target!r} is neither a job id nor a worker url/id any router lists")
        job = match_worker(worker.url, jobs, tunnels).job
    router = board.backend(worker.router) if worker is not None else None
    slurm = board.backend(job.cluster) if job is not None else None
    return DrainPlan(router, worker, slurm, job)


def run_drain(plan: DrainPlan, grace_s: float, *, confirm_timeout_s: float = 60.0,
              stop: threading.Event | None = None,
              on_step: Callable[[DrainEvent], None] | None = None) -> Iterator[DrainEvent]:
    """Yield the drain's events in order; the last one is `done/ok` or a `failed` one."""
    stop = stop or threading.Event()

    def event(step: str, status: str, text: str) -> DrainEvent:
        ev = DrainEvent(step, status, text)
        if on_step is not None:
            on_step(ev)
        return ev

    if plan.worker is None and plan.job is None:
        yield event("done", "failed", "nothing to drain")
        return
    if plan.worker is not None:
        yield event("remove", "started", f"removing {plan.worker.url} from router {plan.router.name}")
        result = plan.router.perform("worker.remove", plan.worker)
        if not result.ok:
            yield event("remove", "failed", f"drain stopped at remove: {result.message}")
            return
        yield event("remove", "ok", result.message)
    else:
        yield event("remove", "skipped", "no router worker matches this job")
    if plan.job is None:
        yield event("done", "ok", "drained (no SLURM job behind this worker)")
        return
    if plan.worker is not None and grace_s > 0:
        yield event("grace", "started", f"waiting {grace_s:g}s for in-flight requests")
        if stop.wait(grace_s):
            yield event("grace", "failed", "drain stopped during the grace period (interrupted)")
            return
        yield event("grace", "ok", "grace period over")
    job_id = plan.job.job_id
    yield event("cancel", "started", f"cancelling job {job_id}")
    result = plan.slurm.cancel(job_id, plan.job.name)
    if not result.ok:
        yield event("cancel", "failed", f"drain stopped at cancel: {result.message}")
        return
    yield event("cancel", "ok", result.message)
    yield event("confirm", "started", f"waiting for job {job_id} to end")
    deadline = time.monotonic() + confirm_timeout_s
    state = "?"
    while time.monotonic() < deadline and not stop.is_set():
        try:
            state = plan.slurm.job_state(job_id)
        except BackendError as exc:
            yield event("confirm", "failed", f"drain stopped at confirm: {exc.message}")
            return
        if state in _ENDED:
            yield event("confirm", "ok", f"job {job_id} ended ({state or 'gone'})")
            yield event("done", "ok", f"drained {plan.describe()}")
            return
        stop.wait(1.0)
    yield event("confirm", "failed", f"drain stopped at confirm: job {job_id} still {state} "
                                     f"after {confirm_timeout_s:g}s")


def drain_and_show(plan: DrainPlan, board: Board, grace_s: float) -> tuple[bool, str]:
    """Run a drain from an action: publish each step on the rows (`draining`) and ask the
    router and SLURM backends to poll, so the panes show the step as it happens."""
    worker_key = ("workers", plan.worker.id) if plan.worker is not None else None
    job_key = ("jobs", plan.job.job_id) if plan.job is not None else None
    log: list[str] = []

    def shown(ev: DrainEvent) -> None:
        text = "" if ev.step == "done" else f"{ev.step}: {ev.status}"
        for key, row in ((worker_key, plan.worker), (job_key, plan.job)):
            if key is not None:
                board.set_draining(*key, text, row)
        for backend in (plan.router, plan.slurm):
            if backend is not None:
                backend.request_poll()

    last = DrainEvent("done", "failed", "nothing happened")
    try:
        for ev in run_drain(plan, grace_s, on_step=shown):
            log.append(f"{ev.step:<8} {ev.status:<8} {ev.text}")
            last = ev
    finally:
        for key in (worker_key, job_key):
            if key is not None:
                board.set_draining(*key, "")
    return last.status == "ok", last.text
