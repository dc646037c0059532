"""Docker Engine containers through docker-py (local socket, tcp:// or ssh://; ssh://
hosts travel over servedeck's SSH pool, see sshtransport).

One target is one Docker host; several targets show side by side, each row naming its
host. The client is created on first use and dropped after any connection failure, so a
daemon that restarts (or starts late) is picked up by the next poll. When a scheduler
drives the backend (the TUI sets `wake`), an event thread (docker_events) asks for a poll
as soon as a container starts, stops, dies or changes health. Stats are sampled only
when the containers pane is shown, in parallel (docker_stats), and under the TUI only for
the rows on screen (`show_rows`): a host with 200 containers costs what 30 rows cost.
Every Engine API request is counted in `requests` (benchmark, tests).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from datetime import datetime
from typing import Any, Mapping

from pydantic import Field

from servedeck.backends.lazy import lazy
from servedeck.backends.base import (
    Action,
    ActionResult,
    Backend,
    BackendContext,
    BackendError,
    BackendSettings,
    Column,
    OpenLog,
    PaneSpec,
    RunInteractive,
    Rows,
)
from servedeck.backends.docker.errors import api_text, translate
from servedeck.backends.docker.events import EventWatcher
from servedeck.backends.docker.stats import StatsSampler, Usage
from servedeck.backends.rows import ContainerRow

docker = lazy("docker", "errors")  # the SDK loads in the first poll, not before the first frame
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_UP_SECONDS = re.compile(r"^Up (?:Less than a second|(\d+) seconds?)")
_STOP_TIMEOUT_S = 10
SHELL_COMMAND = "command -v bash >/dev/null && exec bash || exec sh"


class DockerSettings(BackendSettings):
    url: str = Field(
        default="unix:///var/run/docker.sock",
        description=("Docker Engine address: unix://PATH, tcp://HOST:PORT or ssh://USER@HOST[:PORT] "
                     "(its key and known_hosts from the matching ssh: host, or ssh://NAME of one)."),
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds one Engine API call may take.")
    stats: bool = Field(default=True, description="Sample CPU % and memory of running containers while shown.")


CONTAINERS = PaneSpec(
    key="containers",
    title="Containers",
    columns=(
        Column("host", "Host", 10),
        Column("name", "Name", 22),
        Column("image", "Image", 22),
        Column("state", "State", 9),
        Column("health", "Health", 9),
        Column("uptime_s", "Uptime", 8),
        Column("cpu_percent", "CPU %", 7),
        Column("mem_bytes", "Memory", 9),
        Column("ports", "Ports", 24),
        Column("networks", "Networks", 12),
        Column("id", "ID", 12),
    ),
    row_key="id",
    aliases=("co", "ctr", "container", "docker"),
    order=20,
)

ACTIONS = (
    Action("container.logs", "Open container logs", "containers", mutating=False, key="l"),
    Action("container.shell", "Open a shell in container", "containers", mutating=True, key="s"),
    Action("container.start", "Start container", "containers", mutating=True, key="u"),
    Action("container.stop", "Stop container", "containers", mutating=True, confirm=True, key="x"),
    Action("container.restart", "Restart container", "containers", mutating=True, confirm=True, key="R"),
    Action("container.remove", "Remove container", "containers", mutating=True, confirm=True, key="ctrl+d"),
)


class DockerBackend(Backend):
    kind = "docker"
    settings_model = DockerSettings
    default_interval = 5.0
    panes = (CONTAINERS,)
    actions = ACTIONS
    log_kinds = ("container",)

    settings: DockerSettings

    def __init__(self, settings: DockerSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self._client: docker.APIClient | None = None
        self._started: dict[tuple[str, str], float | None] = {}
        self._stats = StatsSampler()
        self._events: EventWatcher | None = None
        self._usage: dict[str, Usage] = {}
        self._sampling: threading.Thread | None = None
        self._ssh: tuple | None = None  # ssh:// urls: (pool, ssh host name, own pool?)
        self._ssh_lock = threading.Lock()
        self._round_lock = threading.Lock()
        self._running: tuple[str, ...] = ()  # full ids of the running containers at the last poll
        self.requests: deque[tuple[str, str]] = deque(maxlen=4096)  # (method, path) of Engine API calls
        self.sent = 0

    # -- client ------------------------------------------------------------------------

    def connect(self, timeout: float | None) -> Any:
        """A new Engine API client; ssh:// hosts travel over the SSH pool (sshtransport)."""
        if not self.settings.url.startswith("ssh://"):
            return docker.APIClient(base_url=self.settings.url, timeout=timeout)
        from servedeck.backends.docker.sshtransport import api_client, ssh_target

        with self._ssh_lock:  # the poll, the events thread and log follows may race here
            if self._ssh is None:
                self._ssh = ssh_target(self.settings.url, self.context.extras.get("ssh"))
            pool, name, _own = self._ssh
        return api_client(pool, name, timeout)

    def _api(self) -> Any:
        if self._client is None:
            try:
                self._client = self.connect(self.settings.timeout)
            except Exception as exc:
                raise translate(exc, self.settings.url, self.settings.timeout) from None
            self._client.hooks["response"].append(self._count)
        return self._client

    def _count(self, response, *args, **kwargs):
        """A requests response hook: one entry per Engine API call this backend made."""
        self.sent += 1
        self.requests.append((response.request.method, response.request.path_url))

    def _call(self, fn, *args, **kwargs):
        """Call the Engine API; on failure drop the client and raise a BackendError."""
        api = self._api()
        try:
            return fn(api, *args, **kwargs)
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            raise BackendError(
                f"Docker Engine at {self.settings.url} answered an error: {api_text(exc)}",
                hint="see the dockerd log", reachable=True,
            ) from None
        except Exception as exc:
            self._reset()
            raise translate(exc, self.settings.url, self.settings.timeout) from None

    def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass

    def _watch_events(self) -> None:
        """Start the event thread once somebody schedules our polls (the TUI)."""
        if self.wake is not None and (self._events is None or not self._events.alive):
            self._events = EventWatcher(self.settings.url, self.request_poll, name=f"docker events {self.name}",
                                        connect=lambda: self.connect(None))
            self._events.start()

    # -- polling -----------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        self._watch_events()
        if "containers" not in wanted:
            self._call(lambda api: api.ping())
            return {}
        summaries = self._call(lambda api: api.containers(all=True))
        now = time.time()
        self._running = tuple(str(s.get("Id", "")) for s in summaries if s.get("State") == "running")
        usage = self._sample_stats()
        rows = tuple(self._row(s, now, usage.get(str(s.get("Id", ""))) if s.get("State") == "running" else None)
                     for s in summaries)
        live = {(r.full_id, r.state) for r in rows}
        self._started = {k: v for k, v in self._started.items() if k in live}
        return {"containers": rows}

    def _stats_ids(self) -> list[str]:
        """Running containers whose usage is wanted: all of them, unless a UI says which
        rows it shows (`show_rows`; the cockpit says "none yet" before its first poll)."""
        shown = self.on_screen.get("containers")
        if self.wake is None or shown is None:
            return list(self._running)
        return [cid for cid in self._running if cid[:12] in shown]

    def _sample_stats(self) -> dict:
        """Usage of running containers. The Engine takes about a second per sample, so
        under a scheduler a background round runs while this poll returns the last
        round's figures at once; a one-shot caller (`status --json`) waits for them."""
        if not self.settings.stats:
            return {}
        if self.wake is None:
            self._usage = self._stats.sample_quick(self._fetch_stats, self._stats_ids())
            return self._usage
        self._start_round()
        return self._usage

    def show_rows(self, pane: str, keys: frozenset[str]) -> None:
        """Rows scrolled into view get their figures now, not at the next poll."""
        super().show_rows(pane, keys)
        if pane == "containers" and self.wake is not None and self.settings.stats \
                and any(cid not in self._usage for cid in self._stats_ids()):
            self._start_round()

    def _start_round(self) -> None:
        with self._round_lock:
            if self._sampling is not None:
                return  # the running round picks up rows that came on screen meanwhile
            self._sampling = threading.Thread(target=self._sample_round, daemon=True, name=f"docker stats {self.name}")
            self._sampling.start()

    def _sample_round(self) -> None:
        try:
            self._sample_rounds()
        finally:
            with self._round_lock:
                if self._sampling is threading.current_thread():
                    self._sampling = None  # a bug in a round must not stop every later round

    def _sample_rounds(self) -> None:
        ids = self._stats_ids()
        while True:
            new = [cid for cid in ids if cid not in self._usage]
            try:
                self._usage = self._stats.sample(self._fetch_stats, ids)
            except Exception:  # the list call reports the daemon's state; stats stay empty
                self._usage = {}
            if any(cid in self._usage for cid in new):
                self.request_poll()
            with self._round_lock:  # against show_rows: a row scrolled on screen now is not missed
                later = self._stats_ids()
                if set(later) <= set(ids):
                    self._sampling = None
                    return
            ids = later

    def _fetch_stats(self, cid: str, one_shot: bool) -> Mapping[str, Any]:
        return self._api().stats(cid, stream=False, one_shot=True if one_shot else None)

    def _row(self, s: Mapping[str, Any], now: float, usage) -> ContainerRow:
        full_id = str(s.get("Id", ""))
        state = str(s.get("State", ""))
        status = str(s.get("Status", ""))
        match = _HEALTH.search(status)
        health = "starting" if match and "starting" in match.group(1) else (match.group(1) if match else "")
        names = s.get("Names") or []
        started = self._started_at(full_id, state, status)
        networks = ((s.get("NetworkSettings") or {}).get("Networks") or {}).keys()
        return ContainerRow(
            name=names[0].lstrip("/") if names else full_id[:12],
            id=full_id[:12],
            host=self.name,
            image=str(s.get("Image", "")),
            state=state,
            health=health,
            started_at=started,
            cpu_percent=usage.cpu_percent if usage else None,
            mem_bytes=usage.mem_bytes if usage else None,
            uptime_s=round(now - started, 1) if started and state in ("running", "paused") else None,
            status=status,
            ports=format_ports(s.get("Ports") or []),
            networks=", ".join(sorted(networks)),
            full_id=full_id,
        )

    def _started_at(self, full_id: str, state: str, status: str) -> float | None:
        key = (full_id, state)
        if key not in self._started or _restarted(self._started[key], status):
            try:
                info = self._call(lambda api: api.inspect_container(full_id))
                self._started[key] = parse_docker_time(info.get("State", {}).get("StartedAt", ""))
            except docker.errors.NotFound:
                self._started[key] = None  # removed between list and inspect
        return self._started[key]

    # -- actions -----------------------------------------------------------------------

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        target = getattr(row, "full_id", "") or getattr(row, "id", "")
        label = getattr(row, "name", "") or target[:12]
        if action_id == "container.logs":
            return ActionResult(True, f"logs of {label}", follow_up=OpenLog(self.container_log(target, label),
                                                                             f"container/{label} on {self.name}"))
        if action_id == "container.shell":
            return ActionResult(True, f"shell in {label}", follow_up=RunInteractive(self.shell_argv(target),
                                                                                     f"shell in {label}"))
        ops = {
            "container.start": ("started", lambda api, cid: api.start(cid)),
            "container.stop": ("stopped", lambda api, cid: api.stop(cid, timeout=_STOP_TIMEOUT_S)),
            "container.restart": ("restarted", lambda api, cid: api.restart(cid, timeout=_STOP_TIMEOUT_S)),
            "container.remove": ("removed", lambda api, cid: api.remove_container(cid, force=True)),
        }
        if action_id not in ops:
            return super().perform(action_id, row)
        done, op = ops[action_id]
        try:
            self._call(op, target)
        except docker.errors.NotFound:
            return ActionResult(False, f"container {label} no longer exists")
        except BackendError as exc:
            return ActionResult(False, f"{action_id} {label}: {exc.message}")
        self._started = {k: v for k, v in self._started.items() if k[0] != target}
        return ActionResult(True, f"{done} container {label}")

    def find(self, name: str) -> ContainerRow | None:
        """A container of this host by name, full id or id prefix (blocking)."""
        for s in self._call(lambda api: api.containers(all=True)):
            names = [n.lstrip("/") for n in s.get("Names") or []]
            cid = str(s.get("Id", ""))
            if name in names or (len(name) >= 4 and cid.startswith(name)):
                return self._row(s, time.time(), None)
        return None

    def shell_argv(self, container_id: str) -> tuple[str, ...]:
        return ("docker", "-H", self.settings.url, "exec", "-it", container_id, "sh", "-c", SHELL_COMMAND)

    def container_log(self, container: str, label: str = ""):
        from servedeck.backends.docker.logsource import DockerLogSource

        return DockerLogSource(self.settings.url, container, label=label or container, timeout=self.settings.timeout,
                               connect=self.connect)

    def log_source(self, kind: str, name: str):
        """`container/NAME`, or `container/NAME@TARGET` when several hosts have that name."""
        if kind != "container":
            return None
        name, _, host = name.partition("@")
        if host and host != self.name:
            return None
        row = self.find(name)
        return self.container_log(row.full_id, row.name) if row is not None else None

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
        self._reset()
        if self._ssh is not None and self._ssh[2]:
            self._ssh[0].close()  # a pool of its own (the shared one is the fleet's to close)


def _restarted(started: float | None, status: str, slack_s: float = 3.0) -> bool:
    """A restart keeps the state "running", so the start time we know may be stale when
    the status says it started seconds ago. "Up 5 seconds" with a known start 5 s ago is
    the same start (no inspect: 200 fresh containers cost one list, not 200 inspects);
    other statuses that say seconds ("Exited (0) 3 seconds ago") are looked at again."""
    up = _UP_SECONDS.match(status)
    if up is None:
        return "second" in status
    if started is None:
        return True
    return abs((time.time() - started) - int(up.group(1) or 0)) > slack_s


def format_ports(ports: list[Mapping[str, Any]]) -> str:
    """`127.0.0.1:8080->80/tcp, 9000/tcp` as `docker ps` shows them."""
    out = []
    for p in ports:
        private = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            out.append(f"{ip}:{p['PublicPort']}->{private}")
        else:
            out.append(private)
    return ", ".join(dict.fromkeys(out))


def parse_docker_time(text: str) -> float | None:
    """Docker's RFC 3339 times have nanoseconds; the zero time means never started."""
    if not text or text.startswith("0001-01-01"):
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        return None
    base, frac, zone = m.groups()
    stamp = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp()
    return stamp + (float("0." + frac[:6]) if frac else 0.0)
