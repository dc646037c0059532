"""The ServerlessLLM v1-beta stack of seed 001, on 127.0.0.1: the real Pylet head and a real
Pylet worker (PyPI `pylet`) with fake GPU units, stand-in `vllm` and `sllm-store`
executables on that worker's PATH, and the sllm head stand-in driving them.

Pylet keeps its database in `~/.pylet`, so both processes get a HOME under the lab dir.
The head is Pylet's own ASGI app (`pylet.server:app`, what `pylet start` runs) served on
127.0.0.1 instead of 0.0.0.0; the worker is `pylet start --head ...` (its log port binds
0.0.0.0: Pylet hardcodes that). Liveness thresholds are shortened (suspect after 4 s,
offline after 8 s) so a dead worker shows within seconds, as an operator would tune it.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import urllib.request
from pathlib import Path

from servedeck.lab.ports import http_ok
from servedeck.lab.services.base import Context, LabPorts, Waiter, find, python
from servedeck.lab.procs import Log
from servedeck.lab.state import LabError, LabInfo, ServiceRecord

LOCAL = "127.0.0.1"
GPU_UNITS = 2
MODEL = "facebook/opt-125m"  # saved as a stand-in sllm-format checkpoint in the storage path
PYLET_ENV = {
    "PYLET_SUSPECT_THRESHOLD_SECONDS": "4", "PYLET_OFFLINE_THRESHOLD_SECONDS": "8",
    "PYLET_HEARTBEAT_POLL_TIMEOUT": "2", "PYLET_LIVENESS_CHECK_INTERVAL": "1", "PYLET_SCHEDULER_INTERVAL": "1",
    "PYLET_WORKER_PORT_RANGE_SIZE": "20",  # instance ports worker+1..+20: fewer ports of the shared machine
}


def planned_ports(ports: LabPorts) -> dict[int, str]:
    return {ports.pylet_head: "pylet head", ports.pylet_worker: "pylet worker", ports.sllm_head: "sllm head stand-in"}


def pylet_home(dir: Path) -> Path:
    return dir / "pylet" / "home"


def _executables(ctx: Context) -> Path:
    """DIR/pylet/bin/{vllm,sllm-store}: the stand-ins under the names the head's commands use."""
    bin_dir = ctx.path("pylet", "bin", "x").parent
    for name, module in (("vllm", "standin_vllm"), ("sllm-store", "standin_sllm_store")):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\n# lab stand-in for {name}\nexec "{python()}" -m servedeck.lab.{module} "$@"\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def _online_workers(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/workers", timeout=1) as resp:  # noqa: S310 - the lab's own head
            return sum(1 for w in json.load(resp) if w.get("status") == "ONLINE")
    except (OSError, ValueError):
        return -1


def _pylet_connected(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:  # noqa: S310
            return json.load(resp).get("pylet_connected") is True
    except (OSError, ValueError):
        return False


def _env(dir: Path, bin_dir: Path) -> dict[str, str]:
    venv_bin = str(Path(python()).parent)
    return {**PYLET_ENV, "HOME": str(pylet_home(dir)), "SERVEDECK_STANDIN_BIND": LOCAL,
            "PATH": os.pathsep.join([str(bin_dir), venv_bin, os.environ.get("PATH", "/usr/bin:/bin")])}


def launch_worker(ctx: Context, name: str, env: dict[str, str]):
    ports = ctx.ports
    return ctx.launch(name, [python(), "-m", "servedeck.lab.pylet_loopback", "start", "--head", f"{LOCAL}:{ports.pylet_head}",
                             "--port", str(ports.pylet_worker), "--gpu-units", str(GPU_UNITS),
                             "--cpu-cores", "4", "--memory-mb", "8192"],
                      port=ports.pylet_worker, url=f"http://{LOCAL}:{ports.pylet_worker}", env=env)


def replace_worker(info: LabInfo, log: Log = print, timeout: float = 30.0) -> ServiceRecord:
    """A new Pylet worker for a lab whose worker died (it registers under a new id)."""
    head, old = info.service("pylet-head"), info.service("pylet-worker")
    if head is None or old is None or not head.port or not old.port:
        raise LabError(f"no Pylet stack recorded in {info.dir}")
    ports = LabPorts(pylet_head=head.port, pylet_worker=old.port)
    ctx = Context(dir=info.dir, ports=ports, info=info, log=log, timeout=timeout)
    n = sum(1 for s in info.services if s.name.startswith("pylet-worker"))
    rec = launch_worker(ctx, f"pylet-worker-{n + 1}", _env(info.dir, info.dir / "pylet" / "bin"))
    ctx.await_ready(rec, lambda: _online_workers(head.url or "") >= 1, "register with the Pylet head")
    return rec


def start_serverlessllm(ctx: Context) -> Waiter:
    if find("pylet") is None:
        raise LabError("pylet is not installed: pip install -e '.[lab]' (or scripts/setup.sh)")
    ports = ctx.ports
    home = pylet_home(ctx.dir)
    home.mkdir(parents=True, exist_ok=True)
    storage = ctx.path("pylet", "models", "x").parent
    bin_dir = _executables(ctx)
    from servedeck.lab.standin_sllm_store import save

    save(MODEL, "vllm", storage)
    env = _env(ctx.dir, bin_dir)
    head_url = f"http://{LOCAL}:{ports.pylet_head}"
    head = ctx.launch("pylet-head", [python(), "-m", "uvicorn", "pylet.server:app", "--host", LOCAL,
                                     "--port", str(ports.pylet_head), "--log-level", "warning"],
                      port=ports.pylet_head, url=head_url, env=env)
    ctx.await_ready(head, lambda: http_ok(f"{head_url}/workers"), "answer GET /workers")
    worker = launch_worker(ctx, "pylet-worker", env)
    sllm_url = f"http://{LOCAL}:{ports.sllm_head}"

    def ready() -> None:
        ctx.await_ready(worker, lambda: _online_workers(head_url) >= 1, "register with the Pylet head")
        sllm = ctx.launch("sllm-head", [python(), "-m", "servedeck.lab.standin_sllm_head", "--host", LOCAL,
                                        "--port", str(ports.sllm_head), "--pylet-url", head_url,
                                        "--db", str(ctx.path("sllm", "state.db")), "--storage-path", str(storage)],
                          port=ports.sllm_head, url=sllm_url, env={"SERVEDECK_STANDIN_BIND": LOCAL})
        ctx.await_ready(sllm, lambda: _pylet_connected(sllm_url), "report pylet_connected: true")
    return ready


def stop_instance_leftovers(dir: Path) -> int:
    """Pylet instances outlive a worker killed with SIGKILL: end those of this lab (their
    command line names this lab's Pylet data dir), by pid. Returns how many."""
    marker = str(pylet_home(dir) / ".pylet") + "/"
    ended = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.killpg(os.getpgid(int(entry.name)), signal.SIGKILL)
                ended += 1
            except (ProcessLookupError, PermissionError):
                pass
    return ended
