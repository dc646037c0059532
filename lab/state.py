"""What a lab is made of, as recorded in DIR/lab.json, and its human summary."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from servedeck.lab.procs import is_ours

STATE_FILE = "lab.json"
CONFIG_FILE = "servedeck.yaml"


class LabError(Exception):
    """A lab operation failed; the message is one line that says what and why."""


@dataclass
class ServiceRecord:
    """One service of the lab: a process we started, or one we found running and reuse."""

    name: str  # e.g. "worker-0", "router", "slurmctld"
    pid: int | None = None
    start_time: int | None = None
    port: int | None = None
    url: str | None = None
    log: str | None = None
    reused: bool = False  # started by someone else: never stopped by `lab down`
    running: bool = False  # filled in by `status`
    argv: list[str] | None = None  # how it was started, so `restart` can start it again
    env: dict[str, str] | None = None

    def refresh(self) -> None:
        self.running = True if self.reused else is_ours(self.pid, self.start_time)


@dataclass(frozen=True)
class SSHInfo:
    host: str
    port: int
    user: str
    key_file: str
    known_hosts: str


@dataclass
class LabInfo:
    """Everything a caller (CLI, tests) needs to know about a lab."""

    dir: Path
    services: list[ServiceRecord] = field(default_factory=list)
    docker_url: str | None = None
    ssh: SSHInfo | None = None
    slurm: bool = False
    slurm_conf: str | None = None

    @property
    def config_path(self) -> Path:
        return self.dir / CONFIG_FILE

    def _url(self, name: str) -> str | None:
        return next((s.url for s in self.services if s.name == name), None)

    @property
    def router_url(self) -> str | None:
        return self._url("router")

    @property
    def worker_urls(self) -> list[str]:
        return [s.url for s in self.services if s.name.startswith("worker-") and s.url]

    @property
    def prometheus_url(self) -> str | None:
        return self._url("prometheus")

    @property
    def dcgm_url(self) -> str | None:
        return self._url("dcgm")

    @property
    def node_exporter_url(self) -> str | None:
        return self._url("node_exporter")

    def service(self, name: str) -> ServiceRecord | None:
        return next((s for s in self.services if s.name == name), None)

    def owned(self) -> list[ServiceRecord]:
        return [s for s in self.services if not s.reused and s.pid]

    def render(self) -> str:
        """The `lab status` text: one line per service."""
        lines = [f"lab {self.dir}"]
        for s in self.services:
            state = "reused" if s.reused else ("running" if s.running else "STOPPED")
            where = s.url or (f"port {s.port}" if s.port else "")
            pid = f"pid {s.pid}" if s.pid else ""
            lines.append(f"  {s.name:<14} {state:<8} {pid:<10} {where}".rstrip())
        if self.config_path.exists():
            lines.append(f"config: {self.config_path}  (servedeck --config {self.config_path})")
        return "\n".join(lines)

    # -- persistence ------------------------------------------------------------------
    def save(self) -> None:
        data: dict[str, Any] = {
            "services": [asdict(s) for s in self.services], "docker_url": self.docker_url,
            "ssh": asdict(self.ssh) if self.ssh else None, "slurm": self.slurm,
            "slurm_conf": self.slurm_conf,
        }
        tmp = self.dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.dir / STATE_FILE)

    @classmethod
    def load(cls, dir: Path) -> LabInfo | None:
        """The recorded lab in `dir`, or None when there is none."""
        try:
            data = json.loads((dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            raise LabError(f"{dir / STATE_FILE}: unreadable lab state ({exc})") from None
        info = cls(dir=dir, docker_url=data.get("docker_url"), slurm=bool(data.get("slurm")),
                   slurm_conf=data.get("slurm_conf"),
                   ssh=SSHInfo(**data["ssh"]) if data.get("ssh") else None)
        info.services = [ServiceRecord(**s) for s in data.get("services", [])]
        for s in info.services:
            s.refresh()
        return info
