"""The fault matrix: one entry per service the lab runs, saying how to kill it, how to
bring it back, and where the cockpit and `status --json` must show it.

A new system adds its service with one `Fault(...)` appended to FAULTS (from a module of
its own that test_fault_matrix.py imports, as fault_serverless.py does for Pylet, the
sllm head and the tuner). The defaults kill and restart a lab service by its recorded
pid and argv (`lab.manager.stop_service`, `restart_service`), so most entries only name
the service, the pane, and what shows it.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from servedeck.backends.base import Health, Snapshot
from servedeck.lab.manager import restart_service, stop_service
from servedeck.lab.ports import http_ok
from servedeck.lab.procs import run
from servedeck.lab.services.docker_engine import engine_answers
from servedeck.lab.state import LabInfo
from servedeck.verbs.common import EXIT_DEGRADED, EXIT_UNREACHABLE

Snapshots = dict[str, Snapshot]
Shows = Callable[[Snapshots, LabInfo, str], bool]  # (snapshots, lab, state) -> the state is shown
StatusShows = Callable[[dict, LabInfo], bool]  # (status --json document, lab) -> it shows the fault


@dataclass(frozen=True)
class Fault:
    service: str  # the lab's name for it (lab.json), e.g. "node_exporter"
    pane: str  # the pane an operator looks at; the test shows it so its backend polls it
    shows: Shows  # does the cockpit show the service as `state` ("down" or "ok")?
    status_shows: StatusShows  # does `status --json` show it down?
    status_code: int  # the exit code `status --json` must give while it is down
    ready: Callable[[LabInfo], bool]  # the restored service answers by itself
    kill: Callable[[LabInfo], None] | None = None  # default: stop_service(lab, service)
    restore: Callable[[LabInfo], None] | None = None  # default: restart_service(lab, service)
    after_restore: Callable[[Snapshots, LabInfo], str] | None = None  # "" or what is wrong then
    # An exporter's death reaches the cockpit through Prometheus: the clock of "shown
    # within two refresh intervals" starts when Prometheus itself has recorded it.
    noticed: Callable[[LabInfo], bool] | None = None
    drawn: tuple[str, ...] = ("down",)  # the pane says one of these while it is down
    # A service the lab does not run by itself (a tuning) is started before the cockpit
    # opens (lab, config path), and what the fault left behind is cleared after it.
    prepare: Callable[[LabInfo, str], None] | None = None
    cleanup: Callable[[LabInfo], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def do_kill(self, lab: LabInfo) -> None:
        (self.kill or (lambda lab: stop_service(lab, self.service)))(lab)

    def do_restore(self, lab: LabInfo) -> None:
        (self.restore or (lambda lab: restart_service(lab, self.service)))(lab)


# -- what "shows it" means --------------------------------------------------------------

def backend_named(kind: str) -> Callable[[Snapshots], Snapshot | None]:
    return lambda snaps: next((s for s in snaps.values() if s.kind == kind), None)


def backend_shows(kind: str) -> Shows:
    """The service is the backend of this kind itself (or all it stands on): its state."""
    def shows(snaps: Snapshots, lab: LabInfo, state: str) -> bool:
        snap = backend_named(kind)(snaps)
        if snap is None:
            return False
        if state == "down":
            return snap.state.health is Health.DOWN
        return snap.state.health in (Health.OK, Health.DEGRADED)  # reachable again
    return shows


def backend_status(kind: str) -> StatusShows:
    def shows(doc: dict, lab: LabInfo) -> bool:
        return any(b["kind"] == kind and b["state"] == "down" for b in doc["backends"])
    return shows


def instance_of(lab: LabInfo, service: str) -> str:
    rec = lab.service(service)
    assert rec is not None and rec.port, f"the lab has no {service} with a port"
    return f"127.0.0.1:{rec.port}"


def rows_show(pane: str, service: str) -> Shows:
    """The service is an exporter: the rows of its instance in a gauge pane."""
    def shows(snaps: Snapshots, lab: LabInfo, state: str) -> bool:
        snap = backend_named("prometheus")(snaps)
        if snap is None:
            return False
        rows = [r for r in snap.panes.get(pane, ()) if r.instance == instance_of(lab, service)]
        return bool(rows) and all(r.state == state for r in rows)
    return shows


def target_status(job: str, service: str) -> StatusShows:
    """`status --json` lists the exporter's scrape target as down (the backend: degraded)."""
    def shows(doc: dict, lab: LabInfo) -> bool:
        instance = instance_of(lab, service)
        return any(t["job"] == job and t["instance"] == instance and t["health"] == "down"
                   for t in doc.get("targets", []))
    return shows


def prometheus_sees_down(service: str) -> Callable[[LabInfo], bool]:
    """Prometheus's own API reports `up == 0` for the exporter's instance."""
    import json
    import urllib.parse
    import urllib.request

    def noticed(lab: LabInfo) -> bool:
        prom = lab.service("prometheus")
        query = urllib.parse.quote(f'up{{instance="{instance_of(lab, service)}"}}')
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{prom.port}/api/v1/query?query={query}",
                                        timeout=2) as answer:
                result = json.load(answer)["data"]["result"]
        except (OSError, ValueError, KeyError):
            return False
        return any(float(r["value"][1]) == 0 for r in result)
    return noticed


def url_ok(path: str, service: str) -> Callable[[LabInfo], bool]:
    return lambda lab: http_ok(f"http://{instance_of(lab, service)}{path}")


def rate_not_invented(pane: str, service: str, field_name: str) -> Callable[[Snapshots, LabInfo], str]:
    """Right after a restart the rate window is not filled: the figure must be n/a."""
    def check(snaps: Snapshots, lab: LabInfo) -> str:
        snap = backend_named("prometheus")(snaps)
        rows = [r for r in (snap.panes.get(pane, ()) if snap else ()) if r.instance == instance_of(lab, service)]
        bad = [getattr(r, field_name) for r in rows if getattr(r, field_name) is not None]
        return f"{pane} shows {field_name}={bad} over a window with a gap" if bad else ""
    return check


def slurm_answers(lab: LabInfo) -> bool:
    done = run(["scontrol", "ping"], timeout=5, env={"SLURM_CONF": lab.slurm_conf or ""})
    return done is not None and done.returncode == 0 and "UP" in done.stdout


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def kill_sshd(lab: LabInfo) -> None:
    """The host's SSH goes away: the listener and every connection it serves (its
    per-connection children leave its session, so stopping the listener alone keeps
    established connections open)."""
    rec = lab.service("sshd")
    assert rec is not None and rec.pid
    sessions = children(rec.pid)
    stop_service(lab, "sshd")
    for pid in sessions:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def sshd_answers(lab: LabInfo) -> bool:
    from servedeck.lab.services.sshd import _banner

    return bool(lab.ssh) and _banner(lab.ssh.port)


FAULTS: list[Fault] = [
    Fault("dockerd", "containers", backend_shows("docker"), backend_status("docker"), EXIT_UNREACHABLE,
          ready=lambda lab: engine_answers(lab.docker_url)),
    Fault("prometheus", "nodes", backend_shows("prometheus"), backend_status("prometheus"), EXIT_UNREACHABLE,
          ready=url_ok("/-/ready", "prometheus")),
    Fault("node_exporter", "nodes", rows_show("nodes", "node_exporter"), target_status("node", "node_exporter"),
          EXIT_DEGRADED, ready=url_ok("/metrics", "node_exporter"), noticed=prometheus_sees_down("node_exporter"),
          after_restore=rate_not_invented("nodes", "node_exporter", "cpu_percent")),
    Fault("dcgm", "gpus", rows_show("gpus", "dcgm"), target_status("dcgm", "dcgm"), EXIT_DEGRADED,
          ready=url_ok("/metrics", "dcgm"), noticed=prometheus_sees_down("dcgm")),
    Fault("worker-0", "serving", rows_show("serving", "worker-0"), target_status("sglang", "worker-0"),
          EXIT_DEGRADED, ready=url_ok("/health", "worker-0"), noticed=prometheus_sees_down("worker-0"),
          after_restore=rate_not_invented("serving", "worker-0", "request_rate")),
    Fault("router", "workers", backend_shows("router"), backend_status("router"), EXIT_UNREACHABLE,
          ready=url_ok("/health", "router")),
    Fault("sshd", "jobs", backend_shows("slurm"), backend_status("slurm"), EXIT_UNREACHABLE, ready=sshd_answers,
          kill=kill_sshd),
    Fault("slurmctld", "jobs", backend_shows("slurm"), backend_status("slurm"), EXIT_UNREACHABLE,
          ready=slurm_answers),
]
