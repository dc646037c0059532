"""`lab up | down | status`: the Textual-free API the CLI and the tests call.

Every process the lab starts is recorded in DIR/lab.json the moment it starts, so `down`
(and a failed `up`) stop exactly those, by pid and start time. Services found running
(a Docker Engine, a SLURM controller) are recorded as reused and left alone.
"""

from __future__ import annotations

import subprocess

import time
from pathlib import Path

from servedeck.lab import labconfig
from servedeck.lab.ports import is_free, wait_free
from servedeck.lab.procs import Log, stop
from servedeck.lab.services.base import Context, LabPorts, Waiter, find
from servedeck.lab.services.compose_stack import start_stack, stop_stack
from servedeck.lab.services.docker_engine import start_docker
from servedeck.lab.services.dynamo import prepare_dynamo, start_dynamo_build, stop_dynamo_build
from servedeck.lab.services.helper_container import start_helper, stop_helper
from servedeck.lab.services.fleet import start_dcgm, start_router, start_workers
from servedeck.lab.services.observability import start_node_exporter, start_prometheus
from servedeck.lab.services.orchestrator import start_orchestrator, stop_orchestrator
from servedeck.lab.services.serverlessllm import planned_ports as sllm_ports
from servedeck.lab.services.serverlessllm import start_serverlessllm, stop_instance_leftovers
from servedeck.lab.services.slurm import cancel_all_jobs, controller_answers, start_slurm
from servedeck.lab.services.sshd import start_sshd
from servedeck.lab.state import STATE_FILE, LabError, LabInfo

DEFAULT_DIR = Path(".lab")


def _planned_ports(ports: LabPorts, workers: int, slurm_local: bool, full: bool) -> dict[int, str]:
    plan = {ports.router: "router", ports.router_metrics: "router metrics", ports.dcgm: "dcgm stand-in"}
    plan.update({ports.worker_base + i: f"worker-{i}" for i in range(workers)})
    if not full:
        return plan
    plan.update(sllm_ports(ports))
    if find("prometheus"):
        plan[ports.prometheus] = "prometheus"
    if find("prometheus-node-exporter") or find("node_exporter"):
        plan[ports.node_exporter] = "node_exporter"
    if find("sshd", "/usr/sbin"):
        plan[ports.sshd] = "sshd"
    if slurm_local:
        plan.update({ports.slurmctld: "slurmctld", ports.slurmd: "slurmd"})
    if find("docker-compose") or find("docker"):
        plan.update({ports.compose_pylet_head: "compose pylet head", ports.compose_pylet_worker: "compose pylet worker",
                     ports.compose_sllm_head: "compose sllm head"})
    return plan


def check_ports(ports: LabPorts, workers: int, full: bool = True) -> None:
    """Refuses to start when a port the lab needs is taken: it names port and service."""
    slurm_local = full and find("slurmctld", "/usr/sbin") is not None and not controller_answers()
    plan = _planned_ports(ports, workers, slurm_local, full)
    if len(plan) < len(set(plan.values())):
        raise LabError("two lab services were given the same port")
    taken = [f"{port} ({name})" for port, name in sorted(plan.items()) if not is_free(port)]
    if taken:
        raise LabError(f"port{'s' if len(taken) > 1 else ''} already in use: {', '.join(taken)}; "
                       "stop what listens there or choose other ports")


def up(dir: Path = DEFAULT_DIR, *, workers: int = 2, gpus: int = 4, ports: LabPorts | None = None,
       log: Log = print, timeout: float = 30.0, services: str = "all", own_docker: bool = False,
       helper: bool = True) -> LabInfo:
    """Starts the lab in `dir`, waits until every service answers, writes servedeck.yaml.

    `services="fleet"` starts only the workers, the router and the DCGM stand-in;
    `services="sllm"` only Pylet and the sllm head stand-in.
    `own_docker` runs a dockerd of the lab's own instead of reusing one; `helper=False`
    skips the helper container (and the Compose stack and Dynamo checkout beside it).
    """
    dir = Path(dir).absolute()
    if workers < 1 or gpus < 1:
        raise LabError("a lab needs at least one worker and one GPU")
    if services not in ("all", "fleet", "sllm"):
        raise LabError(f"unknown service set {services!r} (all, fleet or sllm)")
    full = services == "all"
    began = time.monotonic()
    existing = LabInfo.load(dir)
    if existing is not None:
        alive = [s.name for s in existing.owned() if s.running]
        detail = f" ({', '.join(alive)} running)" if alive else ""
        raise LabError(f"a lab is already recorded in {dir}{detail}: run `servedeck lab down --dir {dir}` first")
    ports = ports or LabPorts()
    if services == "sllm":
        taken = [f"{p} ({n})" for p, n in sorted(sllm_ports(ports).items()) if not is_free(p)]
        if taken:
            raise LabError(f"ports already in use: {', '.join(taken)}; stop what listens there or choose other ports")
    else:
        check_ports(ports, workers, full)
    dir.mkdir(parents=True, exist_ok=True)
    info = LabInfo(dir=dir)
    info.save()
    ctx = Context(dir=dir, ports=ports, info=info, log=log, workers=workers, gpus=gpus, timeout=timeout,
                  own_docker=own_docker)
    try:
        waiters: list[Waiter | None] = [start_docker(ctx)] if full else []
        if services == "sllm":
            waiters = [start_serverlessllm(ctx)]
        else:
            waiters += [start_workers(ctx, via_slurm=full), start_router(ctx), start_dcgm(ctx)]
        if full:
            waiters += [start_serverlessllm(ctx)]
            waiters += [start_node_exporter(ctx), start_prometheus(ctx), start_slurm(ctx)]
            waiters.append(start_sshd(ctx, info.slurm_conf))
        for wait in waiters:
            if wait is not None:
                wait()
        # needs SLURM, sshd and the router answering; its jobs boot while the helper starts
        orchestrated = start_orchestrator(ctx) if full else None
        if full and helper:
            start_helper(ctx)  # needs the Docker Engine answering: after the waiters
            start_stack(ctx)
            prepare_dynamo(ctx)
        if orchestrated is not None:
            orchestrated()
        labconfig.write(info)
        if full:
            start_dynamo_build(ctx)  # in the background, through the verb and the lab's config
    except BaseException as exc:
        log(f"lab up failed: {exc}; stopping what it started")
        _stop_all(info, log)
        (dir / STATE_FILE).unlink(missing_ok=True)
        if isinstance(exc, LabError):
            raise
        if isinstance(exc, Exception):
            raise LabError(f"lab up failed: {exc}") from exc
        raise
    info.save()
    for s in info.services:
        s.refresh()
    log(f"lab up: {len(info.owned())} processes started, {len(info.services) - len(info.owned())} reused, "
        f"in {time.monotonic() - began:.1f} s")
    return info


def _stop_all(info: LabInfo, log: Log) -> list[str]:
    """Stops our processes, newest first; returns the names of any that would not stop."""
    stuck = []
    try:
        stop_orchestrator(info, log)  # first: it would replace the jobs cancelled below
    except LabError as exc:
        stuck.append(str(exc))
    stop_helper(info.dir, log)
    stop_stack(info.dir, log)
    stop_dynamo_build(info.dir, log)
    ctld = info.service("slurmctld")
    if info.slurm_conf and ctld is not None and not ctld.reused and ctld.running:
        cancel_all_jobs(info.slurm_conf)
    for rec in reversed(info.owned()):
        if rec.pid and rec.start_time is not None and not stop(rec.pid, rec.start_time):
            stuck.append(f"{rec.name} (pid {rec.pid})")
    if stop_instance_leftovers(info.dir):
        log("stopped Pylet instances left by a killed Pylet worker")
    busy = wait_free([s.port for s in info.owned() if s.port])
    if busy:
        log(f"still listening after stop: {', '.join(map(str, busy))}")
    return stuck


def down(dir: Path = DEFAULT_DIR, log: Log = print) -> None:
    """Stops exactly what `up` started in `dir`; reused services are left alone."""
    dir = Path(dir).absolute()
    info = LabInfo.load(dir)
    if info is None:
        raise LabError(f"no lab recorded in {dir}")
    stuck = _stop_all(info, log)
    if stuck:
        raise LabError(f"could not stop: {', '.join(stuck)}")
    _unmount_below(dir, log)
    for rec in info.services:
        if rec.reused:
            log(f"{rec.name}: reused, left running")
    (dir / STATE_FILE).unlink(missing_ok=True)
    log(f"lab in {dir} stopped")


def _unmount_below(dir: Path, log: Log) -> None:
    """dockerd leaves its network-namespace mount under its exec-root; drop what is under DIR."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    prefix = str(dir) + "/"
    for point in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        if subprocess.run(["umount", "-l", point], capture_output=True).returncode != 0:
            log(f"could not unmount {point}")


def stop_service(info: LabInfo, name: str) -> None:
    """Stops one process the lab started (the fault tests kill services one at a time)."""
    rec = _owned(info, name)
    if rec.pid and rec.start_time is not None and not stop(rec.pid, rec.start_time):
        raise LabError(f"{name} (pid {rec.pid}) would not stop")
    rec.running = False
    info.save()


def restart_service(info: LabInfo, name: str) -> None:
    """Starts a stopped lab service again, exactly as `up` started it (same argv, port,
    log). A worker that ran as a SLURM job comes back as a plain process."""
    from servedeck.lab.procs import is_ours, spawn

    rec = _owned(info, name)
    if is_ours(rec.pid, rec.start_time):
        raise LabError(f"{name} is still running (pid {rec.pid})")
    if not rec.argv:
        raise LabError(f"{name}: the lab did not record how it was started")
    if rec.port:
        busy = wait_free([rec.port])
        if busy:
            raise LabError(f"{name}: port {rec.port} is still taken")
    log_path = Path(rec.log) if rec.log else info.dir / "logs" / f"{name}.log"
    try:
        rec.pid, rec.start_time = spawn(rec.argv, log_path, cwd=info.dir, env=rec.env)
    except OSError as exc:
        raise LabError(f"{name}: cannot start {rec.argv[0]}: {exc.strerror or exc}") from None
    rec.running = True
    info.save()


def _owned(info: LabInfo, name: str):
    rec = info.service(name)
    if rec is None or rec.reused:
        raise LabError(f"{name} is not a service this lab started")
    return rec


def status(dir: Path = DEFAULT_DIR) -> LabInfo:
    """What runs in the lab recorded in `dir` (raises LabError when there is none)."""
    dir = Path(dir).absolute()
    info = LabInfo.load(dir)
    if info is None:
        raise LabError(f"no lab recorded in {dir}: start one with `servedeck lab up --dir {dir}`")
    return info
