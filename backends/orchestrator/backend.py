"""The cockpit's console for the orchestrator: attaches to its control socket.

Rows of the `deployments` pane: one summary row per deployment (desired/ready/unhealthy,
paused, breaker) followed by one row per worker (job, node, port, tunnel, health streak,
router registration, phase and time in phase). Actions send control commands; the
timeline is a text follow-up. The -L tunnels it holds open are rows of the `tunnels`
pane too (and published on the board, so the Workers pane and the Endpoints view tie a
tunneled worker to its job). With `embed: true` and no orchestrator answering, one runs
inside this process for one-off use (it stops with the cockpit; workers keep running).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pydantic import Field

from servedeck.backends.base import (
    Action, ActionResult, Backend, BackendContext, BackendError, BackendSettings, Column, PaneSpec, Rows, ShowText,
)
from servedeck.backends.router.match import board_for
from servedeck.backends.rows import TunnelRow
from servedeck.backends.ssh.backend import TUNNELS


@dataclass(frozen=True)
class DeploymentRow:
    id: str  # "dep" for a summary row, "dep/instance" for a worker row
    deployment: str
    instance: str  # "" on summary rows
    desired: int | None
    ready: int | None
    unhealthy: int | None
    job_id: str
    node: str
    port: int | None
    tunnel: str
    streak: str  # "3 ok" / "2 failed"
    registered: bool | None
    phase: str
    phase_at: float | None  # when it entered its phase (the cell ticks: time in phase)
    reason: str
    probe: str = ""  # the last node probe (orchestrator.node_probe): "ok 12 ms" / "failed: HTTP 500"


DEPLOYMENTS = PaneSpec(
    key="deployments",
    title="Deployments",
    columns=(
        Column("deployment", "Deployment", 16), Column("instance", "Worker", 13),
        Column("desired", "Want", 5), Column("ready", "Ready", 6), Column("unhealthy", "Unhl", 5),
        Column("job_id", "Job", 8), Column("node", "Node", 10), Column("port", "Port", 6),
        Column("tunnel", "Tunnel", 10), Column("streak", "Health", 9), Column("registered", "Router", 7),
        Column("phase", "Phase", 11), Column("phase_at", "In phase", 9), Column("probe", "Probe", 14),
        Column("reason", "Why", 40),
    ),
    row_key="id",
    aliases=("dp", "deploy", "orch"),
    order=110,
)


class OrchestratorSettings(BackendSettings):
    socket: str | None = Field(default=None, description="Control socket of a running orchestrator.")
    config: str | None = Field(default=None, description="Orchestrator config (gives the socket; needed to embed).")
    embed: bool = Field(default=False, description="Run an orchestrator in the cockpit when none answers.")
    timeout: float = Field(default=5.0, gt=0)


class OrchestratorBackend(Backend):
    kind = "orchestrator"
    settings_model = OrchestratorSettings
    default_interval = 2.0
    panes = (DEPLOYMENTS, TUNNELS)
    actions = (
        Action("orch.drain", "Drain worker (or whole deployment)", "deployments", confirm=True, key="d"),
        Action("orch.restart", "Restart worker(s), replacement first", "deployments", confirm=True, key="R"),
        Action("orch.scale_up", "Scale up by one", "deployments", key="plus"),
        Action("orch.scale_down", "Scale down by one", "deployments", confirm=True, key="minus"),
        Action("orch.scale", "Scale to N replicas", "deployments", key="S", prompt="Replicas"),
        Action("orch.pause", "Pause (no new submissions)", "deployments", key="p"),
        Action("orch.resume", "Resume", "deployments", key="u"),
        Action("orch.timeline", "Timeline of transitions", "deployments", mutating=False, key="t"),
    )

    settings: OrchestratorSettings

    def __init__(self, settings: OrchestratorSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self._config = None
        self._embedded: Any = None
        self._thread: threading.Thread | None = None
        self._last: dict[str, Any] = {}
        self.board = board_for(self.context)

    # -- connection ---------------------------------------------------------------------

    def _orch_config(self):
        if self._config is None and self.settings.config:
            from servedeck.config.errors import ConfigError
            from servedeck.orchestrator.config import load

            try:
                self._config = load(os.path.expanduser(self.settings.config))
            except ConfigError as exc:
                raise BackendError(f"orchestrator config: {exc.problems[0]}", hint="orchestrate validate") from None
        return self._config

    def socket_path(self) -> Path:
        if self.settings.socket:
            return Path(os.path.expanduser(self.settings.socket))
        config = self._orch_config()
        if config is None:
            raise BackendError("orchestrator backend needs `socket:` or `config:`")
        return config.orchestrator.socket_path()

    def _request(self, doc: dict[str, Any]) -> dict[str, Any]:
        from servedeck.orchestrator.control import ControlError, request

        path = self.socket_path()
        try:
            return request(path, doc, timeout=self.settings.timeout)
        except ControlError as exc:
            if self.settings.embed and self._embedded is None:
                self._start_embedded()
                return request(path, doc, timeout=self.settings.timeout)
            raise BackendError(str(exc), hint="start it: servedeck orchestrate run --config FILE") from None

    def _start_embedded(self) -> None:
        from servedeck.orchestrator.service import AlreadyRunning, Service
        from servedeck.orchestrator.state import StateError

        config = self._orch_config()
        if config is None:
            raise BackendError("embed: true needs `config:`")
        try:
            self._embedded = Service(config)
        except AlreadyRunning as exc:
            raise BackendError(str(exc), hint="its control socket is not answering; check its log") from None
        except StateError as exc:
            raise BackendError(str(exc), hint="move the state file away to start afresh") from None
        self._thread = threading.Thread(target=self._embedded.run, kwargs={"install_signals": False},
                                        name="embedded-orchestrator", daemon=True)
        self._thread.start()
        path = config.orchestrator.socket_path()
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)

    # -- polling ------------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        reply = self._request({"cmd": "status"})
        doc = reply.get("status") or {}
        self._last = {d["name"]: d for d in doc.get("deployments", [])}
        tunnels = tuple(tunnel_rows(doc))
        self.board.publish("tunnels", self.name, tunnels)
        out: dict[str, Rows] = {}
        if "deployments" in wanted:
            out["deployments"] = tuple(rows(doc))
        if "tunnels" in wanted:
            out["tunnels"] = tunnels
        return out

    # -- actions ------------------------------------------------------------------------

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        dep = getattr(row, "deployment", "")
        instance = getattr(row, "instance", "") or None
        if not dep:
            return ActionResult(False, "select a deployment or worker row")
        if action_id == "orch.timeline":
            return ActionResult(True, "", ShowText(f"Timeline of {dep}", timeline_text(self._last.get(dep, {}))))
        commands = {
            "orch.drain": {"cmd": "drain", "instance": instance},
            "orch.restart": {"cmd": "restart", "instance": instance},
            "orch.scale_up": {"cmd": "scale", "delta": 1},
            "orch.scale_down": {"cmd": "scale", "delta": -1},
            "orch.pause": {"cmd": "pause"},
            "orch.resume": {"cmd": "resume"},
        }
        if action_id == "orch.scale":
            try:
                doc: dict[str, Any] = {"cmd": "scale", "replicas": int((value or "").strip())}
            except ValueError:
                return ActionResult(False, f"not a number of replicas: {value!r}")
        elif action_id in commands:
            doc = {k: v for k, v in commands[action_id].items() if v is not None}
        else:
            return super().perform(action_id, row, value)
        reply = self._request({**doc, "deployment": dep})
        self.request_poll()
        return ActionResult(bool(reply.get("ok")), str(reply.get("message", "")))

    def close(self) -> None:
        service, self._embedded = self._embedded, None
        if service is not None:
            service.stop()
            if self._thread is not None:
                self._thread.join(timeout=10)


def rows(doc: Mapping[str, Any]) -> list[DeploymentRow]:
    out = []
    for d in doc.get("deployments", []):
        flags = [f for f, on in (("paused", d.get("paused")), (f"breaker {d.get('breaker')}",
                                                              d.get("breaker") not in (None, "closed"))) if on]
        blacklist = ", ".join(d.get("blacklist") or {})
        reason = "; ".join(flags + ([f"blacklisted: {blacklist}"] if blacklist else []))
        out.append(DeploymentRow(
            id=d["name"], deployment=d["name"], instance="", desired=d.get("desired"), ready=d.get("ready"),
            unhealthy=d.get("unhealthy"), job_id="", node="", port=None, tunnel=d.get("mode", ""), streak="",
            registered=None, phase="paused" if d.get("paused") else f"{d.get('ready')}/{d.get('desired')} ready",
            phase_at=None, reason=reason))
        for w in d.get("workers", []):
            streak = f"{w['fail_streak']} failed" if w.get("fail_streak") else (
                f"{w['ok_streak']} ok" if w.get("ok_streak") else "")
            out.append(DeploymentRow(
                id=f"{d['name']}/{w['instance_id']}", deployment=d["name"], instance=w["instance_id"],
                desired=None, ready=None, unhealthy=None, job_id=w.get("job_id", ""), node=w.get("node", ""),
                port=w.get("port"), tunnel=w.get("tunnel", ""), streak=streak, registered=w.get("registered"),
                phase=w["phase"] + (" (retiring)" if w.get("retiring") else ""), phase_at=w.get("phase_since"),
                reason=w.get("reason", ""), probe=probe_text(w.get("probe"))))
    return out


def tunnel_rows(doc: Mapping[str, Any]) -> list[TunnelRow]:
    """The tunnels the orchestrator holds open, as rows of the Tunnels pane."""
    fields = set(TunnelRow.__dataclass_fields__)
    out = []
    for d in doc.get("deployments", []):
        for t in d.get("tunnels") or []:
            if isinstance(t, dict) and fields <= set(t):
                out.append(TunnelRow(**{k: t[k] for k in fields}))
    return out


def probe_text(probe: Any) -> str:
    if not isinstance(probe, dict):
        return ""
    if probe.get("ok"):
        return f"ok {probe.get('latency_ms', 0):.0f} ms"
    return f"failed: {probe.get('detail') or '?'}"


def timeline_text(dep: Mapping[str, Any]) -> str:
    lines = []
    for t in reversed(dep.get("timeline", [])):
        stamp = time.strftime("%H:%M:%S", time.localtime(t["ts"]))
        who = f"{t['instance_id']} job {t['job_id'] or '-'}" if t["instance_id"] != "-" else "operator"
        lines.append(f"{stamp}  {who:<24} {t['phase']:<11} {t['reason']}")
    return "\n".join(lines) or "no transitions yet"
