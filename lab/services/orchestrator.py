"""The orchestrator (`servedeck orchestrate run`) keeping one deployment of 2 stand-in
workers alive on the lab's SLURM, each reached through an -L tunnel over the lab's sshd
and registered in the lab's router, so the Deployments and Tunnels panes and the
Endpoints view have live rows on a first start.

Started after SLURM, sshd and the router answer; awaited last (`lab up` does other work
while its jobs boot). `lab down` stops it before cancelling the jobs, so it never
replaces a job the lab is cancelling.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from servedeck.lab.services.base import Context, Waiter, python
from servedeck.lab.state import LabError, ServiceRecord

NAME = "orchestrator"
DEPLOYMENT = "lab-standin"
REPLICAS = 2
CONFIG_FILE = "orchestrator.yaml"
JOB_PREFIX = "lab-orch-"


def config_path(dir: Path) -> Path:
    return dir / CONFIG_FILE


def state_dir(dir: Path) -> Path:
    return dir / "orchestrator"


def render(ctx: Context) -> dict[str, Any]:
    """The orchestrator's config: ports from the lab's layout, the lab's sshd and router."""
    ssh, p = ctx.info.ssh, ctx.ports
    assert ssh is not None and ctx.info.router_url
    d = state_dir(ctx.dir)
    dep = {
        "name": DEPLOYMENT,
        "replicas": REPLICAS,
        "connectivity": {
            "mode": "tunneled", "tunnel_mode": "local", "orchestrator_host": "127.0.0.1",
            "advertise_host": "127.0.0.1",
            "worker_port_range": [p.orch_worker_base, p.orch_worker_base + 3],
            "local_port_range": [p.orch_local_base, p.orch_local_base + 3],
            "ssh": {"hostname": ssh.host, "port": ssh.port, "user": ssh.user, "key_file": ssh.key_file,
                    "known_hosts": ssh.known_hosts},
        },
        "router": {"base_url": ctx.info.router_url},
        # One fake GPU each (the node has 8, the lab's own workers take none).
        "slurm": {"prefer": "cli", "job_name_prefix": JOB_PREFIX, "gres": "gpu:1", "cpus_per_task": 1,
                  "log_dir": str(d / "logs")},
        "sglang": {"command": [python(), "-m", "servedeck.lab.standin_sglang"],
                   "args": ["--host", "127.0.0.1", "--port", "{PORT}", "--model-name", "standin-model",
                            "--tokens-per-second", "20"]},
        "health": {"path": "/health", "interval_s": 1, "timeout_s": 1, "consecutive_ok_for_ready": 2,
                   "failures_to_unhealthy": 3},
        "policy": {"restart_backoff_s": 2, "max_backoff_s": 30, "deregister_grace_s": 1,
                   "start_grace_period_s": 120, "predrain_seconds_before_walltime": 0},
    }
    return {"orchestrator": {"metrics": {"enabled": True, "bind": "127.0.0.1", "port": 0},
                             "notifications": {"type": "log_only"}, "state_dir": str(d), "tick_s": 0.5},
            "deployments": [dep]}


def start_orchestrator(ctx: Context) -> Waiter | None:
    """Needs the lab's SLURM (its own controller), sshd and router; otherwise skipped."""
    if not (ctx.info.slurm_conf and ctx.info.ssh and ctx.info.router_url):
        ctx.log("orchestrator: needs the lab's own SLURM, sshd and router; skipped")
        return None
    path = config_path(ctx.dir)
    path.write_text("# Written by `servedeck lab up`: the lab's orchestrator (servedeck orchestrate run).\n"
                    + yaml.safe_dump(render(ctx), sort_keys=False))
    began = time.monotonic()
    rec = ctx.launch(NAME, [python(), "-m", "servedeck", "orchestrate", "run", "--config", str(path),
                            "--log-level", "INFO"], env={"SLURM_CONF": ctx.info.slurm_conf})

    def ready() -> None:
        waited = time.monotonic()
        ctx.await_ready(rec, lambda: all_ready(path) is not None,
                        f"report {REPLICAS}/{REPLICAS} workers ready through their tunnels", timeout=90)
        rec.url = f"unix://{socket_of(path)}"
        ctx.info.save()
        now = time.monotonic()
        ctx.log(f"orchestrator: {DEPLOYMENT} {REPLICAS}/{REPLICAS} ready through -L tunnels over the lab's sshd "
                f"{now - began:.1f} s after its start (lab up waited {now - waited:.1f} s for it)")
    return ready


def socket_of(path: Path) -> Path:
    from servedeck.orchestrator.config import load

    return load(str(path)).orchestrator.socket_path()


def deployment(path: Path) -> dict[str, Any] | None:
    """The deployment's entry in the orchestrator's status, None when it does not answer."""
    from servedeck.orchestrator.control import ControlError, request

    try:
        doc = request(socket_of(path), {"cmd": "status"}, timeout=2)
    except (ControlError, OSError):
        return None
    deps = (doc.get("status") or {}).get("deployments") or []
    return deps[0] if deps else None


def all_ready(path: Path) -> list[str] | None:
    """The tunneled URLs of the deployment's workers once all are ready and registered."""
    dep = deployment(path) or {}
    workers = [w for w in dep.get("workers", []) if w.get("phase") == "ready" and w.get("registered")]
    if len(workers) < REPLICAS or dep.get("ready", 0) < REPLICAS:
        return None
    return sorted(w["url"] for w in workers)


def worker_urls(dir: Path) -> list[str]:
    """The router URLs of the orchestrator's workers right now (their tunnels' local ends)."""
    dep = deployment(config_path(dir)) or {}
    return sorted(w["url"] for w in dep.get("workers", []) if w.get("url"))


def stop_orchestrator(info: Any, log) -> None:
    """Stops the orchestrator first (its jobs are cancelled with the lab's others after)."""
    from servedeck.lab.procs import stop

    rec: ServiceRecord | None = info.service(NAME)
    if rec is None or not rec.pid or rec.start_time is None:
        return
    if not stop(rec.pid, rec.start_time):
        raise LabError(f"{NAME} (pid {rec.pid})")
    rec.running = False
    info.save()
    log(f"{NAME}: stopped (its jobs go with the lab's SLURM jobs)")

