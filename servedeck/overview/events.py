"""The event feed: every state change servedeck observed between two snapshots of a
backend (backend down/up, job started/ended, worker registered/removed/unhealthy,
tunnel down/reconnected, drain steps, orchestrator transitions).

`EventDetector` compares each new snapshot with the previous one of the same backend;
the first snapshot of a pane is a baseline, not a burst of events. `EventFeed` keeps
the newest events in memory (bounded) and appends every one to a JSON-lines file that
`servedeck events` reads.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from servedeck.backends.base import Health, Snapshot
from servedeck.overview import later
from servedeck.overview.common import ACTIVE_JOB_STATES, CRIT, FAILED_JOB_STATES, INFO, WARN
from servedeck.text import safe

EVENTS_FILE = "events.jsonl"
MAX_FILE_BYTES = 5 * 1024 * 1024  # then the file is rotated to events.jsonl.1


def state_dir() -> Path:
    """Where servedeck keeps what it writes: $SERVEDECK_STATE_DIR, else the XDG state dir."""
    explicit = os.environ.get("SERVEDECK_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or "~/.local/state"
    return Path(base).expanduser() / "servedeck"


def events_path() -> Path:
    return state_dir() / EVENTS_FILE


@dataclass(frozen=True)
class Event:
    at: float  # epoch seconds
    kind: str  # backend.down, job.started, worker.removed, ...
    backend: str
    subject: str  # what changed: "job 42", "worker http://...", "tunnel t1"
    message: str
    severity: str = INFO  # info, warn, crit
    pane: str = ""  # the pane its subject lives in

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> "Event":
        doc = json.loads(line)
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


# -- what changed, per pane ---------------------------------------------------------------

Key = tuple[str, str]  # (pane, row id)
State = dict[str, Any]  # row id -> what its events compare


def _jobs(rows) -> State:
    return {j.job_id: (j.state.upper(), j.draining, j.name, j.node) for j in rows}


def _workers(rows) -> State:
    return {w.url: (w.healthy, w.draining) for w in rows}


def _tunnels(rows) -> State:
    return {t.name: (t.state, t.error) for t in rows}


def _deployments(rows) -> State:
    return {r.id: (r.phase, r.ready, r.desired, r.instance, r.reason) for r in rows}


def _job_events(old: State, new: State) -> Iterator[tuple[str, str, str, str]]:
    for job_id, (state, draining, name, node) in new.items():
        label = f"job {job_id}"
        before = old.get(job_id)
        if before is None:
            yield ("job.submitted" if state == "PENDING" else "job.started" if state == "RUNNING" else "job.seen",
                   label, f"{name} {state.lower()}" + (f" on {node}" if node else ""), INFO)
            continue
        if before[0] != state:
            if state == "RUNNING":
                yield "job.started", label, f"{name} running on {node}", INFO
            elif state not in ACTIVE_JOB_STATES:
                yield "job.ended", label, f"{name} ended {state}", CRIT if state in FAILED_JOB_STATES else INFO
            else:
                yield "job.state", label, f"{before[0].lower()} -> {state.lower()}", INFO
        if before[1] != draining and draining:
            yield "drain.step", label, f"drain: {draining}", WARN
    for job_id, before in old.items():
        if job_id not in new and before[0] in ACTIVE_JOB_STATES:
            yield "job.ended", f"job {job_id}", f"{before[2]} left the queue", INFO


def _worker_events(old: State, new: State) -> Iterator[tuple[str, str, str, str]]:
    for url, (healthy, draining) in new.items():
        label = f"worker {url}"
        before = old.get(url)
        if before is None:
            yield "worker.registered", label, "registered with the router", INFO
            continue
        if before[0] != healthy and healthy is not None:
            yield ("worker.healthy", label, "healthy again", INFO) if healthy else \
                ("worker.unhealthy", label, "the router marks it unhealthy", CRIT)
        if before[1] != draining and draining:
            yield "drain.step", label, f"drain: {draining}", WARN
    for url in old:
        if url not in new:
            yield "worker.removed", f"worker {url}", "no longer listed by the router", WARN


def _tunnel_events(old: State, new: State) -> Iterator[tuple[str, str, str, str]]:
    for name, (state, error) in new.items():
        before = old.get(name)
        if before is None or before[0] == state:
            continue
        label = f"tunnel {name}"
        if state == "up":
            yield ("tunnel.reconnected" if before[0] in ("down", "reconnecting") else "tunnel.up"), label, \
                f"{before[0]} -> up", INFO
        else:
            yield f"tunnel.{state}", label, f"{before[0]} -> {state}" + (f": {safe(error, 80)}" if error else ""), \
                CRIT if state == "down" else WARN


def _deployment_events(old: State, new: State) -> Iterator[tuple[str, str, str, str]]:
    for row_id, (phase, ready, desired, instance, reason) in new.items():
        before = old.get(row_id)
        label = f"worker {row_id}" if instance else f"deployment {row_id}"
        if before is None:
            if old and instance:
                yield "orchestrator.worker", label, f"new worker, {phase}", INFO
            continue
        if before[0] != phase:
            yield "orchestrator.phase", label, f"{before[0]} -> {phase}" + (f": {safe(reason, 60)}" if reason else ""), \
                WARN if phase in ("failed", "lost", "draining") else INFO
        if not instance and (before[1], before[2]) != (ready, desired):
            yield "orchestrator.ready", label, f"ready {ready}/{desired}", \
                WARN if desired is not None and (ready or 0) < desired else INFO
    for row_id, before in old.items():
        if row_id not in new and before[3]:
            yield "orchestrator.worker", f"worker {row_id}", "gone", INFO


PANES: dict[str, tuple[Callable[[Any], State], Callable[[State, State], Iterable]]] = {
    "jobs": (_jobs, _job_events),
    "workers": (_workers, _worker_events),
    "tunnels": (_tunnels, _tunnel_events),
    "deployments": (_deployments, _deployment_events),
    **later.PANES,  # Compose, Pylet, sllm heads, Dynamo builds, the autotuner
}


class EventDetector:
    """Compares each backend's new snapshot with its previous one."""

    def __init__(self) -> None:
        self._health: dict[str, Health] = {}
        self._panes: dict[tuple[str, str], State] = {}
        self._rows: dict[tuple[str, str], Any] = {}  # (backend, pane) -> the rows object last compared

    def observe(self, snapshot: Snapshot, now: float | None = None) -> list[Event]:
        now = time.time() if now is None else now
        name = snapshot.backend
        events: list[Event] = []
        health, before = snapshot.state.health, self._health.get(name)
        if health is not Health.UNKNOWN and before is not None and before is not health:
            severity = CRIT if health is Health.DOWN else WARN if health is Health.DEGRADED else INFO
            message = f"{before.value} -> {health.value}" + (f": {safe(snapshot.state.message, 100)}" if snapshot.state.message else "")
            events.append(Event(now, f"backend.{health.value}", name, f"{snapshot.kind} {name}", message, severity, "backends"))
        if health is not Health.UNKNOWN:
            self._health[name] = health
        for pane, (extract, diff) in PANES.items():
            rows = snapshot.panes.get(pane)
            if rows is None or self._rows.get((name, pane)) is rows:
                continue  # not polled, or the same rows again
            self._rows[(name, pane)] = rows
            state = extract(rows)
            old = self._panes.get((name, pane))
            self._panes[(name, pane)] = state
            if old is None:
                continue  # the first look is a baseline
            for kind, subject, message, severity in diff(old, state):
                events.append(Event(now, kind, name, subject, safe(message, 160), severity, pane))
        return events


class EventFeed:
    """The newest events in memory, newest first, and every event in a JSON-lines file."""

    def __init__(self, path: Path | None = None, capacity: int = 500):
        self.path = path
        self.recent: deque[Event] = deque(maxlen=capacity)
        self.detector = EventDetector()
        self.write_error = ""

    def observe(self, snapshot: Snapshot, now: float | None = None) -> list[Event]:
        events = self.detector.observe(snapshot, now)
        if events:
            self.record(events)
        return events

    def record(self, events: Iterable[Event]) -> None:
        events = list(events)
        for event in events:
            self.recent.appendleft(event)
        if self.path is not None and events:
            self._append(events)

    def _append(self, events: list[Event]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size > MAX_FILE_BYTES:
                self.path.replace(self.path.with_name(self.path.name + ".1"))
            with self.path.open("a", encoding="utf-8") as out:
                out.write("".join(e.to_json() + "\n" for e in events))
            self.write_error = ""
        except OSError as exc:  # a full disk must not stop the cockpit
            self.write_error = f"cannot write {self.path}: {exc.strerror or exc}"

    def newest(self, n: int | None = None) -> list[Event]:
        return list(self.recent)[:n] if n else list(self.recent)


def read_events(path: Path) -> list[Event]:
    """Every readable event of the file, oldest first (a torn last line is skipped)."""
    if not path.exists():
        return []
    events = []
    with path.open(encoding="utf-8", errors="replace") as src:
        for line in src:
            try:
                events.append(Event.from_json(line))
            except (ValueError, TypeError, KeyError):
                continue
    return events


def follow_events(path: Path, *, poll: float = 0.5, stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """Events appended to the file from now on (survives rotation and a file not yet made)."""
    position = path.stat().st_size if path.exists() else 0
    inode = path.stat().st_ino if path.exists() else None
    pending = ""
    while not stop():
        if path.exists():
            info = path.stat()
            if info.st_ino != inode or info.st_size < position:
                inode, position, pending = info.st_ino, 0, ""
            if info.st_size > position:
                with path.open(encoding="utf-8", errors="replace") as src:
                    src.seek(position)
                    chunk = src.read()
                    position = src.tell()
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    try:
                        yield Event.from_json(line)
                    except (ValueError, TypeError, KeyError):
                        continue
                continue
        time.sleep(poll)
