"""Helpers of the orchestrator's integration tests: one test's world (`Orch`: config,
router, orchestrator process, SLURM queries) and bounded waits."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from support import PORT_OFFSET

PY = sys.executable
# Below the ephemeral range (32768+), where an outgoing connection could hold a port we want.
BASE = 17000 + PORT_OFFSET  # routers at BASE+2i, workers in BASE+100+50i..
slots = itertools.count()  # one router and port range per test


def until(fn: Callable[[], Any], timeout: float = 60.0, pause: float = 0.25, what: str = "") -> Any:
    """Call fn until it returns something truthy; a bounded wait, so a hang fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"condition never held within {timeout:g}s: {what or fn.__doc__ or fn}")


def http_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
        return json.load(resp)


@dataclass
class Orch:
    """One test's world: config, router, orchestrator process, SLURM queries."""

    dir: Path
    slurm_env: dict[str, str]
    router_port: int
    worker_ports: tuple[int, int]
    prefix: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    config_path: Path | None = None
    deployment: dict[str, Any] = field(default_factory=dict)

    @property
    def router_url(self) -> str:
        return f"http://127.0.0.1:{self.router_port}"

    @property
    def state_dir(self) -> Path:
        return self.dir / "state"

    @property
    def socket(self) -> Path:
        return self.state_dir / "control.sock"

    def write_config(self, replicas: int = 2, **overrides: Any) -> Path:
        dep: dict[str, Any] = {
            "name": "dep",
            "replicas": replicas,
            "connectivity": {"mode": "direct", "worker_port_range": list(self.worker_ports)},
            "router": {"base_url": self.router_url},
            "slurm": {"job_name_prefix": self.prefix, "time_limit": "00:10:00", "log_dir": str(self.dir / "logs"),
                      "cpus_per_task": 1},
            "sglang": {"command": [PY, "-m", "servedeck.lab.standin_sglang"],
                       "args": ["--host", "127.0.0.1", "--port", "{PORT}"]},
            "health": {"path": "/health", "interval_s": 0.5, "timeout_s": 1, "consecutive_ok_for_ready": 2,
                       "failures_to_unhealthy": 2},
            "policy": {"restart_backoff_s": 0.2, "max_backoff_s": 2, "deregister_grace_s": 0.5,
                       "start_grace_period_s": 60, "predrain_seconds_before_walltime": 0,
                       "node_blacklist_cooldown_s": 600},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(dep.get(key), dict):
                dep[key] = {**dep[key], **value}
            else:
                dep[key] = value
        self.deployment = dep
        doc = {"orchestrator": {"metrics": {"enabled": True, "bind": "127.0.0.1", "port": 0},
                                "state_dir": str(self.state_dir), "tick_s": 0.25},
               "deployments": [dep]}
        self.config_path = self.dir / "sgorch.yaml"
        self.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return self.config_path

    # -- processes ----------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.slurm_env, **extra}

    def start(self, **env: str) -> subprocess.Popen:
        log = open(self.dir / "orchestrator.log", "ab")
        proc = subprocess.Popen([PY, "-m", "servedeck", "orchestrate", "run", "--config", str(self.config_path),
                                 "--log-level", "DEBUG"], stdout=log, stderr=subprocess.STDOUT,
                                env=self.env(**env), start_new_session=True)
        self.procs.append(proc)
        return proc

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([PY, "-m", "servedeck", "orchestrate", *args, "--config", str(self.config_path)],
                              capture_output=True, text=True, env=self.env(), timeout=120)

    def status(self) -> dict[str, Any]:
        from servedeck.orchestrator.control import request

        return request(self.socket, {"cmd": "status"})["status"]["deployments"][0]

    def command(self, **doc: Any) -> dict[str, Any]:
        from servedeck.orchestrator.control import request

        return request(self.socket, {"deployment": "dep", **doc})

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in (self.dir / "orchestrator.log").read_text(errors="replace").splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    # -- observations -------------------------------------------------------------------

    def jobs(self, active_only: bool = True) -> list[dict[str, str]]:
        """Our jobs as squeue lists them: id, state, comment."""
        done = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%j|%T|%k"], capture_output=True,
                              text=True, env=self.env(), timeout=30)
        assert done.returncode == 0, done.stderr
        rows = []
        for line in done.stdout.splitlines():
            job_id, name, state, comment = line.split("|", 3)
            if name == f"{self.prefix}dep":
                rows.append({"id": job_id, "state": state, "comment": comment})
        active = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")
        return [r for r in rows if r["state"] in active] if active_only else rows

    def router_urls(self) -> list[str]:
        return sorted(w["url"] for w in http_json(f"{self.router_url}/workers")["workers"])

    def ready_urls(self) -> list[str] | None:
        """URLs of ready, registered workers when the orchestrator reports desired of them."""
        try:
            st = self.status()
        except Exception:
            return None
        ready = [w["url"] for w in st["workers"] if w["phase"] == "ready" and w["registered"] and w["listed"]]
        return sorted(ready) if len(ready) == st["desired"] else None

    def worker_pid(self, job_id: str) -> int:
        text = (self.dir / "logs" / f"{self.prefix}dep-{job_id}.out").read_text()
        for line in text.splitlines():
            if line.startswith("SGORCH_START") and "pid=" in line:
                return int(line.rsplit("pid=", 1)[1])
        raise AssertionError(f"no worker pid in the log of job {job_id}")

    def kill9(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)


def start_router(port: int, log: Path) -> subprocess.Popen:
    binary = str(Path(PY).parent / "sglang-router")
    proc = subprocess.Popen([binary, "launch", "--host", "127.0.0.1", "--port", str(port),
                             "--prometheus-host", "127.0.0.1", "--prometheus-port", str(port + 1),
                             "--health-check-interval-secs", "5", "--log-level", "warn"],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def answers() -> bool:
        try:
            http_json(f"http://127.0.0.1:{port}/workers")
            return True
        except OSError:
            return proc.poll() is not None  # died: stop waiting, the assert below says so
    until(answers, 30, what="router answers")
    assert proc.poll() is None, f"router on {port} exited: {log.read_text()[-500:]}"
    return proc
