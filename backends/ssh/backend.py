"""The `tunnels` backend kind: configured SSH forwards, their pane and open/close/restart.

The backend owns a `TunnelManager` (its tunnels keep running between polls, for as long
as the cockpit runs); `close()` stops them. Polling never opens a tunnel unless the spec
says `autostart: true`, so `servedeck status` does not open forwards as a side effect.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
from servedeck.backends.ssh.ports import NoFreePort, PortAllocator
from servedeck.backends.rows import TunnelRow
from servedeck.backends.ssh.forward import Tunnel, TunnelSpec
from servedeck.backends.router.match import board_for

_HOST_PORT = re.compile(r"^(?P<host>\[[^\]]+\]|[^:\s]+):(?P<port>\d{1,5})$")


class TunnelConfig(BaseModel):
    """One forward, as written in the config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(description="Name shown in the pane and used by `servedeck tunnel open NAME`.")
    ssh: str = Field(description="The ssh host (from the ssh: section) the tunnel runs over.")
    mode: Literal["local", "reverse"] = Field(default="local", description="local (-L) or reverse (-R).")
    local_host: str = Field(default="127.0.0.1", description="-L: address to listen on here; -R: target here.")
    local_port: int | Literal["auto"] = Field(
        default="auto", description="-L: port to listen on here (auto: from port_ranges); -R: target port here."
    )
    remote: str = Field(description="host:port at the far end (-L: target seen from the ssh host; -R: where it listens).")
    autostart: bool = Field(default=False, description="Open when the cockpit starts.")

    @field_validator("remote")
    @classmethod
    def _host_port(cls, value: str) -> str:
        found = _HOST_PORT.match(value)
        if not found or not 0 <= int(found["port"]) < 65536:
            raise ValueError(f"{value!r} is not host:port")
        return value

    def remote_parts(self) -> tuple[str, int]:
        found = _HOST_PORT.match(self.remote)
        assert found
        return found["host"].strip("[]"), int(found["port"])


class TunnelsSettings(BackendSettings):
    tunnels: list[TunnelConfig] = Field(default_factory=list, description="The forwards.")
    port_ranges: list[tuple[int, int]] = Field(
        default_factory=lambda: [(31000, 31999)], description="Where `local_port: auto` ports come from."
    )

    @field_validator("tunnels")
    @classmethod
    def _unique(cls, value: list[TunnelConfig]) -> list[TunnelConfig]:
        names = [t.name for t in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tunnel names must be unique: {', '.join(dupes)}")
        for t in value:
            if t.mode == "reverse" and t.local_port == "auto":
                raise ValueError(f"tunnel {t.name}: a reverse tunnel needs a local_port (its target)")
        return value


TUNNELS = PaneSpec(
    key="tunnels",
    title="Tunnels",
    columns=(
        Column("name", "Tunnel", 14),
        Column("mode", "Mode", 8),
        Column("ssh", "SSH", 8),
        Column("local", "Local", 21),
        Column("remote", "Remote", 21),
        Column("state", "State", 13),
        Column("connections", "Conns", 6),
        Column("in_bytes", "In", 9),
        Column("out_bytes", "Out", 9),
        Column("since_at", "Since", 9),
        Column("error", "Last error", 40),
    ),
    row_key="name",
    aliases=("tu", "tunnel"),
    order=90,
)


class TunnelsBackend(Backend):
    kind = "tunnels"
    settings_model = TunnelsSettings
    default_interval = 2.0
    panes = (TUNNELS,)
    actions = (
        Action("tunnel.open", "Open tunnel", "tunnels", mutating=True, key="o"),
        Action("tunnel.close", "Close tunnel", "tunnels", mutating=True, confirm=True, key="c"),
        Action("tunnel.restart", "Restart tunnel", "tunnels", mutating=True, key="r"),
    )

    settings: TunnelsSettings

    def __init__(self, settings: TunnelsSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self.allocator = PortAllocator(settings.port_ranges)
        self.configs = {t.name: t for t in settings.tunnels}
        self.tunnels: dict[str, Tunnel] = {}
        self._lock = threading.Lock()
        self._autostarted = False
        self.board = board_for(self.context)

    def _pool(self):
        pool = self.context.extras.get("ssh")
        if pool is None:
            raise BackendError("tunnels need the ssh: section (no SSH pool is set up)", hint="configure ssh hosts")
        return pool

    # -- lifecycle --------------------------------------------------------------------

    def open(self, name: str) -> Tunnel:
        """Start a configured tunnel (no-op if it runs); raises BackendError on bad config."""
        with self._lock:
            tunnel = self.tunnels.get(name)
            if tunnel is not None and tunnel.state != "closed":
                return tunnel
            config = self.configs.get(name)
            if config is None:
                known = ", ".join(sorted(self.configs)) or "none"
                raise BackendError(f"no tunnel named {name!r} (configured: {known})", reachable=True)
            pool = self._pool()
            pool.host(config.ssh)  # unknown ssh host: one clear error now
            if tunnel is None:
                port = config.local_port
                if port == "auto":
                    try:
                        port = self.allocator.allocate()
                    except NoFreePort as exc:
                        raise BackendError(f"tunnel {name}: {exc}", hint="widen port_ranges", reachable=True) from None
                host, rport = config.remote_parts()
                spec = TunnelSpec(name=name, ssh=config.ssh, mode=config.mode, local_host=config.local_host,
                                  local_port=int(port), remote_host=host, remote_port=rport)
                tunnel = Tunnel(spec, pool, on_change=self.request_poll)
                self.tunnels[name] = tunnel
        tunnel.start()
        return tunnel

    def close_tunnel(self, name: str) -> bool:
        tunnel = self.tunnels.get(name)
        if tunnel is None or tunnel.state == "closed":
            return False
        tunnel.stop()
        return True

    # -- polling ----------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        if not self._autostarted:
            self._autostarted = True
            for config in self.settings.tunnels:
                if config.autostart:
                    try:
                        self.open(config.name)
                    except BackendError:
                        pass  # shown as the tunnel's row state below
        rows = tuple(self.row(name) for name in self.configs)
        self.board.publish("tunnels", self.name, rows)
        return {"tunnels": rows} if "tunnels" in wanted else {}

    def row(self, name: str) -> TunnelRow:
        tunnel = self.tunnels.get(name)
        if tunnel is not None:
            return tunnel.row()
        config = self.configs[name]
        host, rport = config.remote_parts()
        return TunnelRow(name=name, mode=config.mode, ssh=config.ssh,
                         local=f"{config.local_host}:{config.local_port}", remote=f"{host}:{rport}",
                         state="closed", connections=0, bytes_in=0, bytes_out=0, error="", since=None)

    # -- actions ----------------------------------------------------------------------

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        name = str(getattr(row, "name", ""))
        try:
            if action_id == "tunnel.open":
                tunnel = self.open(name)
                return ActionResult(True, f"tunnel {name} opening: {tunnel.spec.local} -> {tunnel.spec.remote}")
            if action_id == "tunnel.close":
                closed = self.close_tunnel(name)
                return ActionResult(True, f"tunnel {name} closed" if closed else f"tunnel {name} was not open")
            if action_id == "tunnel.restart":
                self.close_tunnel(name)
                tunnel = self.open(name)
                return ActionResult(True, f"tunnel {name} restarted: {tunnel.spec.local} -> {tunnel.spec.remote}")
        except BackendError as exc:
            return ActionResult(False, exc.message)
        finally:
            self.request_poll()
        return super().perform(action_id, row, value)

    def close(self) -> None:
        for tunnel in list(self.tunnels.values()):
            tunnel.stop()
