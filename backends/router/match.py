"""Which SLURM job and which tunnel stand behind a router worker: one rule, used by the
workers pane and by drain.

A worker URL `http://HOST:PORT` matches a job when the job runs on HOST (or HOST is this
machine's loopback and the job runs on this machine) and serves PORT (`port=N` in its
comment, or `--port N` in its command). When a local tunnel listens on PORT, the tunnel's
far end (node:port) is matched instead, so a worker reached through `-L` still finds its
job. Backends publish their latest rows on a `Board` (shared within one process) so the
router backend can fill in `job_id`/`tunnel` without knowing the other backends.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urlsplit

from servedeck.backends.rows import JobRow, TunnelRow

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
_RANGE = re.compile(r"^(?P<prefix>[^\[]*)\[(?P<body>[^\]]+)\](?P<suffix>.*)$")
_ACTIVE = {"RUNNING", "CONFIGURING", "COMPLETING", "PENDING", "SUSPENDED"}


@dataclass(frozen=True)
class Match:
    job: JobRow | None
    tunnel: TunnelRow | None


def host_port(url: str) -> tuple[str, int] | None:
    """`http://h:p/...` or `h:p` -> (h, p); None without a port."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.hostname, port


def expand_nodes(nodelist: str) -> list[str]:
    """`gpu[01-02,05],login` -> ["gpu01", "gpu02", "gpu05", "login"] (one bracket level)."""
    names: list[str] = []
    depth, current = 0, ""
    pieces: list[str] = []
    for ch in nodelist:
        if ch == "," and depth == 0:
            pieces.append(current)
            current = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        current += ch
    pieces.append(current)
    for piece in filter(None, (p.strip() for p in pieces)):
        found = _RANGE.match(piece)
        if not found:
            names.append(piece)
            continue
        for part in found["body"].split(","):
            lo, _, hi = part.partition("-")
            if hi and lo.isdigit() and hi.isdigit():
                names += [f"{found['prefix']}{n:0{len(lo)}d}{found['suffix']}" for n in range(int(lo), int(hi) + 1)]
            else:
                names.append(f"{found['prefix']}{part}{found['suffix']}")
    return names


def _short(name: str) -> str:
    return name.split(".")[0].lower()


def same_host(host: str, node: str) -> bool:
    if _short(host) == _short(node):
        return True
    return host in _LOOPBACK and _short(node) == _short(socket.gethostname())


def _tunnel_for(host: str, port: int, tunnels: Iterable[TunnelRow]) -> TunnelRow | None:
    for tunnel in tunnels:
        if tunnel.mode != "local":
            continue
        local = host_port(tunnel.local)
        if local and local[1] == port and (same_host(host, local[0]) or local[0] in _LOOPBACK):
            return tunnel
    return None


def match_worker(url: str, jobs: Iterable[JobRow], tunnels: Iterable[TunnelRow] = ()) -> Match:
    """The job (and tunnel) behind a worker URL; Match(None, None) when nothing fits."""
    target = host_port(url)
    if target is None:
        return Match(None, None)
    tunnel = _tunnel_for(*target, tunnels)
    if tunnel is not None:
        target = host_port(tunnel.remote) or target
    host, port = target
    for job in jobs:
        if job.port == port and job.state in _ACTIVE and any(same_host(host, n) for n in expand_nodes(job.node)):
            return Match(job, tunnel)
    return Match(None, tunnel)


def workers_of_job(job: JobRow, workers: Iterable[Any], tunnels: Iterable[TunnelRow] = ()) -> list[Any]:
    """The router workers (rows with `url`) that `match_worker` ties to this job."""
    return [w for w in workers if match_worker(w.url, [job], tunnels).job is not None]


class Board:
    """The latest rows every backend in this process published, and who is draining what."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], tuple[Any, ...]] = {}  # (pane, backend) -> rows
        self._published: dict[tuple[str, str], float] = {}  # (pane, backend) -> monotonic time
        self._backends: dict[str, Any] = {}
        self._draining: dict[tuple[str, str], str] = {}  # (pane, row id) -> step
        self._drained_rows: dict[tuple[str, str], Any] = {}  # the row as it was when its drain began

    def publish(self, pane: str, backend: str, rows: Iterable[Any]) -> None:
        with self._lock:
            self._rows[(pane, backend)] = tuple(rows)
            self._published[(pane, backend)] = time.monotonic()

    def age(self, pane: str, backend: str) -> float:
        """Seconds since `backend` last published `pane` rows (inf: never)."""
        with self._lock:
            at = self._published.get((pane, backend))
        return float("inf") if at is None else time.monotonic() - at

    def rows(self, pane: str) -> list[Any]:
        with self._lock:
            return [r for (p, _), rows in self._rows.items() if p == pane for r in rows]

    def register(self, backend: Any) -> None:
        with self._lock:
            self._backends[backend.name] = backend

    def unregister(self, backend: Any) -> None:
        with self._lock:
            if self._backends.get(backend.name) is backend:
                del self._backends[backend.name]

    def backends(self, kind: str) -> list[Any]:
        with self._lock:
            return [b for b in self._backends.values() if getattr(b, "kind", "") == kind]

    def backend(self, name: str) -> Any | None:
        with self._lock:
            return self._backends.get(name)

    def set_draining(self, pane: str, row_id: str, step: str, row: Any = None) -> None:
        with self._lock:
            if step:
                self._draining[(pane, row_id)] = step
                if row is not None:
                    self._drained_rows.setdefault((pane, row_id), row)
            else:
                self._draining.pop((pane, row_id), None)
                self._drained_rows.pop((pane, row_id), None)

    def draining_rows(self, pane: str) -> list[tuple[Any, str]]:
        """(row as the drain found it, current step) for every drain in progress in a pane,
        so a worker already removed from its router stays visible until its drain ends."""
        with self._lock:
            return [(row, self._draining.get(key, "")) for key, row in self._drained_rows.items() if key[0] == pane]

    def draining(self, pane: str, row_id: str) -> str:
        with self._lock:
            return self._draining.get((pane, row_id), "")


BOARD = Board()


def board_for(context: Any) -> Board:
    """The context's board (`extras["board"]`) or the process-wide one."""
    extras = getattr(context, "extras", {}) or {}
    board = extras.get("board")
    return board if isinstance(board, Board) else BOARD
