"""What every lab service gets: the lab dir, its ports, and a way to launch and await."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from servedeck.lab.ports import wait_until
from servedeck.lab.procs import Log, is_ours, spawn, tail
from servedeck.lab.state import LabError, LabInfo, ServiceRecord

Waiter = Callable[[], None]


@dataclass(frozen=True)
class LabPorts:
    """Default ports, as in the helper container (router 29000, workers 30000+...)."""

    router: int = 29000
    router_metrics: int = 29001
    worker_base: int = 30000
    dcgm: int = 9400
    node_exporter: int = 9100
    prometheus: int = 9090
    sshd: int = 2222
    slurmctld: int = 6817
    slurmd: int = 6818
    compose_pylet_head: int = 18100  # the Compose stack's Pylet head (instances: worker port +1..+100)
    compose_pylet_worker: int = 18199
    compose_sllm_head: int = 18343
    pylet_head: int = 8000  # Pylet's default head port
    pylet_worker: int = 15599  # Pylet's default worker port (instances on the ports after it)
    sllm_head: int = 8343  # the sllm head's port
    orch_worker_base: int = 30020  # the orchestrator's workers: 4 ports from here (on the node)
    orch_local_base: int = 30024  # ... and the local ends of their -L tunnels: 4 ports from here

    def shifted(self, offset: int) -> "LabPorts":
        """The same layout moved by `offset`, so several labs can run side by side."""
        return LabPorts(**{name: port + offset for name, port in vars(self).items()})


@dataclass
class Context:
    dir: Path
    ports: LabPorts
    info: LabInfo
    log: Log
    workers: int = 2
    gpus: int = 4
    timeout: float = 30.0
    own_docker: bool = False  # run a dockerd of the lab's own (socket under DIR) even if one answers
    scrape_targets: dict[str, list[str]] = field(default_factory=dict)  # job -> host:port
    worker_jobs: list[str] = field(default_factory=list)  # SLURM job id of worker i, when workers are jobs

    def path(self, *parts: str) -> Path:
        p = self.dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def launch(self, name: str, argv: Sequence[str], *, port: int | None = None,
               url: str | None = None, env: dict[str, str] | None = None,
               user: str | None = None) -> ServiceRecord:
        """Starts one process and records it at once, so a failed `up` can still stop it."""
        log_path = self.path("logs", f"{name}.log")
        try:
            pid, started = spawn(argv, log_path, cwd=self.dir, env=env, user=user)
        except OSError as exc:
            raise LabError(f"{name}: cannot start {argv[0]}: {exc.strerror or exc}") from None
        rec = ServiceRecord(name=name, pid=pid, start_time=started, port=port, url=url,
                            log=str(log_path), running=True, argv=list(argv), env=env)
        self.info.services.append(rec)
        self.info.save()
        return rec

    def reuse(self, name: str, *, port: int | None = None, url: str | None = None) -> ServiceRecord:
        rec = ServiceRecord(name=name, port=port, url=url, reused=True, running=True)
        self.info.services.append(rec)
        self.info.save()
        return rec

    def await_ready(self, rec: ServiceRecord, check: Callable[[], bool], what: str,
                    timeout: float | None = None) -> None:
        """Waits for `check`; a dead process or a timeout becomes one clear LabError."""
        alive = (lambda: is_ours(rec.pid, rec.start_time)) if rec.pid else None
        if wait_until(check, timeout or self.timeout, alive=alive):
            return
        state = "exited" if alive and not alive() else f"did not {what} within {timeout or self.timeout:.0f} s"
        last = tail(Path(rec.log)) if rec.log else ""
        raise LabError(f"{rec.name} {state}" + (f"; log {rec.log}: {last}" if last else ""))


def python() -> str:
    return sys.executable


def find(binary: str, *extra_dirs: str) -> str | None:
    """A program on PATH, next to this Python (venv bin), or in `extra_dirs` (/usr/sbin)."""
    found = shutil.which(binary, path=":".join([str(Path(sys.executable).parent), *extra_dirs]))
    return found or shutil.which(binary)
