"""Small pieces the overview modules share: where an item leads, and first-seen times."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping

from servedeck.backends.base import Snapshot

CRIT, WARN, INFO = "crit", "warn", "info"
SEVERITY_RANK = {CRIT: 0, WARN: 1, INFO: 2}

ACTIVE_JOB_STATES = {"RUNNING", "CONFIGURING", "COMPLETING", "PENDING", "SUSPENDED"}
FAILED_JOB_STATES = {"FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


@dataclass(frozen=True)
class Jump:
    """Where `enter` on an overview item leads: a row of a pane, as its backend gave it.

    The row itself is kept (not its key) so the pane's own `row_key` picks the row id.
    """

    pane: str
    backend: str
    row: Any = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class BackendRef:
    """The row key of the Backends pane (its rows are keyed by `name`)."""

    name: str


def rows_of(snapshots: Mapping[str, Snapshot], pane: str) -> list[tuple[str, Any]]:
    """(backend, row) of one pane across every backend, in backend order."""
    return [(name, row) for name, snap in snapshots.items() for row in snap.panes.get(pane, ())]


class FirstSeen:
    """When each condition was first seen, so an item can say for how long it holds.

    `touch` returns the first time a key was seen; `keep_only` forgets keys whose
    condition is gone, so a fault that clears and comes back starts counting again.
    """

    def __init__(self) -> None:
        self._at: dict[str, float] = {}
        self._touched: set[str] = set()

    def touch(self, key: str, now: float) -> float:
        self._touched.add(key)
        return self._at.setdefault(key, now)

    def sweep(self) -> None:
        """Forget every key not touched since the last sweep."""
        for key in [k for k in self._at if k not in self._touched]:
            del self._at[key]
        self._touched = set()


@lru_cache(maxsize=8192)
def cached_host_port(url: str):
    from servedeck.backends.router.match import host_port

    return host_port(url)


def match_all(urls: Iterable[str], jobs: Iterable[Any], tunnels: Iterable[Any]) -> dict[str, Any]:
    """`match_worker` for many worker URLs at once, each against only the jobs on the
    ports it can reach (its own, or its tunnel's far end): the same answers as the
    Workers pane in O(workers + jobs) rather than O(workers x jobs) for big fleets."""
    from servedeck.backends.router.match import match_worker

    by_port: dict[int, list[Any]] = {}
    for job in jobs:
        if job.port:
            by_port.setdefault(job.port, []).append(job)
    far_ports: dict[int, set[int]] = {}
    by_local: dict[int, list[Any]] = {}  # a worker can only be behind a tunnel listening on its port
    for tunnel in tunnels:
        local, remote = cached_host_port(tunnel.local), cached_host_port(tunnel.remote)
        if local:
            by_local.setdefault(local[1], []).append(tunnel)
        if local and remote:
            far_ports.setdefault(local[1], set()).add(remote[1])
    found = {}
    for url in urls:
        target = cached_host_port(url)
        ports = {target[1]} | far_ports.get(target[1], set()) if target else set()
        candidates = [j for p in sorted(ports) for j in by_port.get(p, ())]
        found[url] = match_worker(url, candidates, by_local.get(target[1], ()) if target else ())
    return found
