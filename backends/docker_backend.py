"""Docker Engine containers through docker-py (local socket, tcp:// or ssh://).

The client is created on first use and thrown away after any connection failure, so a
daemon that restarts (or starts late) is picked up by the next poll. Listing uses the
cheap summary endpoint; the start time, which only `inspect` knows, is cached per
container and state and refreshed while Docker says the container started seconds ago.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

import docker
import docker.errors
import requests.exceptions
from pydantic import Field

from servedeck.backends.base import (
    Action,
    ActionResult,
    Backend,
    BackendContext,
    BackendError,
    BackendSettings,
    Column,
    PaneSpec,
    Rows,
)
from servedeck.backends.rows import ContainerRow

_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_STOP_TIMEOUT_S = 10


class DockerSettings(BackendSettings):
    url: str = Field(
        default="unix:///var/run/docker.sock",
        description="Docker Engine address: unix://PATH, tcp://HOST:PORT or ssh://USER@HOST.",
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds one Engine API call may take.")


CONTAINERS = PaneSpec(
    key="containers",
    title="Containers",
    columns=(
        Column("host", "Host", 10),
        Column("name", "Name", 22),
        Column("id", "ID", 12),
        Column("image", "Image", 22),
        Column("state", "State", 10),
        Column("health", "Health", 9),
        Column("status", "Status", 22),
        Column("started_at", "Started", 10),
        Column("ports", "Ports", 22),
    ),
    row_key="id",
)


class DockerBackend(Backend):
    kind = "docker"
    settings_model = DockerSettings
    default_interval = 5.0
    panes = (CONTAINERS,)
    actions = (
        Action("container.start", "Start container", "containers", mutating=True),
        Action("container.stop", "Stop container", "containers", mutating=True, confirm=True),
        Action("container.restart", "Restart container", "containers", mutating=True, confirm=True),
    )

    settings: DockerSettings

    def __init__(self, settings: DockerSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self._client: docker.DockerClient | None = None
        self._started: dict[tuple[str, str], float | None] = {}

    # -- client ------------------------------------------------------------------------

    def _api(self) -> Any:
        if self._client is None:
            try:
                self._client = docker.DockerClient(base_url=self.settings.url, timeout=self.settings.timeout)
            except Exception as exc:
                raise self._translate(exc) from None
        return self._client.api

    def _call(self, fn, *args, **kwargs):
        """Call the Engine API; on failure drop the client and raise a BackendError."""
        api = self._api()
        try:
            return fn(api, *args, **kwargs)
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            raise BackendError(
                f"Docker Engine at {self.settings.url} answered an error: {_api_text(exc)}",
                hint="see the dockerd log", reachable=True,
            ) from None
        except Exception as exc:
            self._reset()
            raise self._translate(exc) from None

    def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass

    def _translate(self, exc: BaseException) -> BackendError:
        url = self.settings.url
        text = _chain_text(exc)
        if "No such file or directory" in text or "FileNotFoundError" in text:
            return BackendError(
                f"Docker Engine not reachable at {url} (no such socket)",
                hint="start dockerd or set backends.docker[].url",
            )
        if "Permission denied" in text or "PermissionError" in text:
            return BackendError(
                f"permission denied on Docker Engine socket {url}",
                hint="add your user to the docker group or point url at a socket you may use",
            )
        if "timed out" in text.lower() or "Timeout" in text:
            return BackendError(
                f"Docker Engine at {url} did not answer within {self.settings.timeout:g}s",
                hint="check dockerd is healthy, or raise backends.docker[].timeout",
            )
        if "Connection refused" in text or "ConnectionRefused" in text:
            return BackendError(
                f"Docker Engine not reachable at {url} (connection refused)",
                hint="start dockerd or set backends.docker[].url",
            )
        if isinstance(exc, docker.errors.DockerException) and "url" in text.lower() and "scheme" in text.lower():
            return BackendError(f"invalid Docker Engine url {url}", hint="use unix://, tcp:// or ssh://")
        first = text.splitlines()[0] if text else type(exc).__name__
        return BackendError(
            f"Docker Engine not reachable at {url}: {first[:200]}",
            hint="start dockerd or set backends.docker[].url",
        )

    # -- polling -----------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        if not wanted or "containers" not in wanted:
            self._call(lambda api: api.ping())
            return {}
        summaries = self._call(lambda api: api.containers(all=True))
        rows = tuple(self._row(s) for s in summaries)
        live = {(r.full_id, r.state) for r in rows}
        self._started = {k: v for k, v in self._started.items() if k in live}
        return {"containers": rows}

    def _row(self, s: Mapping[str, Any]) -> ContainerRow:
        full_id = str(s.get("Id", ""))
        state = str(s.get("State", ""))
        status = str(s.get("Status", ""))
        match = _HEALTH.search(status)
        health = "starting" if match and "starting" in match.group(1) else (match.group(1) if match else "")
        names = s.get("Names") or []
        return ContainerRow(
            host=self.name,
            id=full_id[:12],
            name=names[0].lstrip("/") if names else full_id[:12],
            image=str(s.get("Image", "")),
            state=state,
            health=health,
            status=status,
            started_at=self._started_at(full_id, state, status),
            ports=format_ports(s.get("Ports") or []),
            full_id=full_id,
        )

    def _started_at(self, full_id: str, state: str, status: str) -> float | None:
        key = (full_id, state)
        fresh = "second" in status  # just (re)started: a restart keeps the state "running"
        if key not in self._started or fresh:
            try:
                info = self._call(lambda api: api.inspect_container(full_id))
                self._started[key] = parse_docker_time(info.get("State", {}).get("StartedAt", ""))
            except docker.errors.NotFound:
                self._started[key] = None  # removed between list and inspect
        return self._started[key]

    # -- actions -----------------------------------------------------------------------

    def perform(self, action_id: str, row: Any) -> ActionResult:
        ops = {
            "container.start": ("started", lambda api, cid: api.start(cid)),
            "container.stop": ("stopped", lambda api, cid: api.stop(cid, timeout=_STOP_TIMEOUT_S)),
            "container.restart": ("restarted", lambda api, cid: api.restart(cid, timeout=_STOP_TIMEOUT_S)),
        }
        if action_id not in ops:
            return super().perform(action_id, row)
        done, op = ops[action_id]
        target = getattr(row, "full_id", "") or getattr(row, "id", "")
        label = getattr(row, "name", "") or target[:12]
        try:
            self._call(op, target)
        except docker.errors.NotFound:
            return ActionResult(False, f"container {label} no longer exists")
        except BackendError as exc:
            return ActionResult(False, f"{action_id} {label}: {exc.message}")
        self._started = {k: v for k, v in self._started.items() if k[0] != target}
        return ActionResult(True, f"{done} container {label}")

    def close(self) -> None:
        self._reset()


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


def _api_text(exc: docker.errors.APIError) -> str:
    return str(getattr(exc, "explanation", None) or exc)[:200]


def _chain_text(exc: BaseException) -> str:
    """All messages of an exception and its causes: docker-py wraps requests wraps OSError."""
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        if isinstance(current, requests.exceptions.RequestException) and current.args:
            inner = current.args[0]
            if isinstance(inner, BaseException):
                parts.append(f"{type(inner).__name__}: {inner}")
        current = current.__cause__ or current.__context__
    return " | ".join(parts)
