"""The orchestrator's persisted state: what it knows about each worker it started.

Saved after every transition with write-temp + fsync + os.replace (+ fsync of the
directory), so a kill -9 at any moment leaves either the old or the new file, never a
torn one. An instance is recorded (phase `submitting`) *before* sbatch runs: after a
crash, adoption finds its job by the instance id in the job's comment, so a submit that
happened is never repeated.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servedeck import bounded

MAX_STATE_BYTES = 64 * bounded.MIB  # thousands of workers and their timelines

STATE_VERSION = 1
TIMELINE_MAX = 200

# Phases of one worker instance.
SUBMITTING = "submitting"  # recorded; sbatch may or may not have run
PENDING = "pending"  # job queued
STARTING = "starting"  # job running, waiting for health
READY = "ready"  # healthy streak reached (registered flag says if the router has it)
UNHEALTHY = "unhealthy"  # failed health after being ready, or booting too long
DRAINING = "draining"  # removed from the router, waiting the grace period
CANCELLING = "cancelling"  # scancel sent, waiting for SLURM to let go
SERVING = (PENDING, STARTING, READY, SUBMITTING)


@dataclass
class Worker:
    instance_id: str
    port: int
    phase: str = SUBMITTING
    phase_since: float = field(default_factory=time.time)
    job_id: str = ""
    node: str = ""
    url: str = ""  # how the router reaches it ("" until the node is known)
    ok_streak: int = 0
    fail_streak: int = 0
    registered: bool = False
    retiring: bool = False  # walltime pre-drain: a replacement is being brought up
    reason: str = ""  # why it is in this phase
    drain_deadline: float | None = None
    started_at: float | None = None  # when SLURM started running it
    tunnel: str = ""  # tunnel name in tunneled modes
    local_port: int | None = None  # our end of the tunnel
    ready_seen: bool = False  # the READY line is in its log (adoption)
    drain_requested: bool = False  # the operator asked to drain (and replace) it
    adopted: bool = False  # found running after a restart (its READY line may shorten the wait)
    listed: bool = False  # the router listed it at the last look
    registered_at: float | None = None  # when the router accepted it (0.3.x lists it a moment later)


@dataclass
class Transition:
    ts: float
    instance_id: str
    job_id: str
    phase: str
    reason: str
    event: str = ""  # log event name when not worker_<phase>


@dataclass
class DeploymentState:
    name: str
    workers: dict[str, Worker] = field(default_factory=dict)
    replicas_override: int | None = None  # set by `scale`
    paused: bool = False
    failures: int = 0  # consecutive failed workers (reset when one becomes ready)
    next_submit_at: float = 0.0  # backoff
    breaker_open_until: float = 0.0
    blacklist: dict[str, float] = field(default_factory=dict)  # node -> until
    node_boot_failures: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)  # reason -> count
    timeline: list[Transition] = field(default_factory=list)
    error_backoff_until: float = 0.0
    error_count: int = 0
    seq: int = 0  # transitions ever noted (the timeline keeps the last TIMELINE_MAX)
    # port (as a string: JSON keys) -> until: a worker let go of before the router listed it.
    # A 0.3.x router answers an add at once (202) and lists the worker only when its add
    # has run, which waits for the URL to answer: the port is not reused meanwhile, or the
    # late add would list the next worker there while it boots (see engine._do_deregister).
    held_ports: dict[str, float] = field(default_factory=dict)

    def desired(self, configured: int) -> int:
        return configured if self.replicas_override is None else self.replicas_override

    def note(self, worker: Worker, phase: str, reason: str, now: float | None = None, event: str = "") -> None:
        """Move `worker` to `phase` and record the transition on the timeline."""
        now = time.time() if now is None else now
        if phase != worker.phase:
            worker.phase, worker.phase_since = phase, now
        worker.reason = reason
        self.add(Transition(now, worker.instance_id, worker.job_id, phase, reason, event))

    def add(self, transition: "Transition") -> None:
        self.timeline.append(transition)
        self.seq += 1
        del self.timeline[:-TIMELINE_MAX]

    def since(self, seq: int) -> list["Transition"]:
        """Transitions noted after the count was `seq` (those still kept)."""
        new = self.seq - seq
        return self.timeline[-new:] if new > 0 else []


@dataclass
class State:
    deployments: dict[str, DeploymentState] = field(default_factory=dict)

    def deployment(self, name: str) -> DeploymentState:
        if name not in self.deployments:
            self.deployments[name] = DeploymentState(name)
        return self.deployments[name]

    def to_json(self) -> dict[str, Any]:
        # vars() instead of asdict(): the fields are flat, and asdict's deep copies cost
        # most of a reconcile pass with hundreds of workers.
        out = {}
        for name, d in self.deployments.items():
            doc = dict(vars(d))
            doc["workers"] = {k: dict(vars(w)) for k, w in d.workers.items()}
            doc["timeline"] = [dict(vars(t)) for t in d.timeline]
            out[name] = doc
        return {"version": STATE_VERSION, "deployments": out}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "State":
        state = cls()
        for name, raw in (doc.get("deployments") or {}).items():
            raw = dict(raw)
            workers = {k: Worker(**v) for k, v in (raw.pop("workers", None) or {}).items()}
            timeline = [Transition(**t) for t in raw.pop("timeline", None) or []]
            state.deployments[name] = DeploymentState(**raw, workers=workers, timeline=timeline)
        return state


class StateError(Exception):
    """The state file exists but cannot be read: refuse to guess."""


# Probe observations that move on every health pass of a steady fleet: a state that
# differs only in them is written at most every STREAKS_FLUSH_S (a restart re-observes them).
VOLATILE = frozenset({"ok_streak", "fail_streak", "listed"})
STREAKS_FLUSH_S = 30.0


class StateStore:
    """One JSON file, replaced atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._last: bytes | None = None  # what the file holds: an unchanged state is not rewritten
        self._last_core: bytes | None = None  # the same without VOLATILE fields
        self._written_at = -1e9

    def load(self) -> State:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StateError(f"cannot read state {self.path}: {exc.strerror or exc}") from None
        try:
            return State.from_json(bounded.loads_json(text, what="the state", max_bytes=MAX_STATE_BYTES))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StateError(f"state file {self.path} is corrupt ({exc}); move it away to start afresh") from None

    def save(self, state: State) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        doc = state.to_json()
        data = json.dumps(doc, separators=(",", ":")).encode()
        if data == self._last and self.path.exists():
            return
        core = _core(doc)
        if (core is not None and core == self._last_core
                and time.monotonic() - self._written_at < STREAKS_FLUSH_S and self.path.exists()):
            return  # only probe streaks moved
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._last, self._last_core, self._written_at = data, core, time.monotonic()


def _core(doc: dict[str, Any]) -> bytes | None:
    """The document without its workers' VOLATILE fields; None for a document of another
    shape (the autotuner saves its own state through this store): that one is always written."""
    deps = doc.get("deployments")
    if not isinstance(deps, dict):
        return None
    try:
        core = {name: {**d, "workers": {k: {f: v for f, v in w.items() if f not in VOLATILE}
                                        for k, w in d["workers"].items()}}
                for name, d in deps.items()}
    except (AttributeError, KeyError, TypeError):
        return None
    return json.dumps(core, separators=(",", ":")).encode()
