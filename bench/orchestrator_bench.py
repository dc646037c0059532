"""Orchestrator benchmarks (added to bench/run.py's MEASURES).

- orchestrator_ready: seconds from `orchestrate run` to N workers ready and registered
  (real SLURM of the lab, a real router, stand-in workers as SLURM jobs), then seconds
  from a worker's death (kill -9 of its process) to its replacement registered.
- orchestrator_reconcile_cpu: CPU seconds of one reconcile pass over 500 ready workers in
  20 deployments: SLURM facts from memory (500 jobs), real HTTP health probes against one
  helper process that listens on 500 ports.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PY = sys.executable
ROUTER_PORT = 27800  # below the ephemeral range; the bench runs alone
WORKER_PORTS = (27900, 27999)
MANY_BASE = 28000


def _until(fn, timeout: float, pause: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(pause)
    raise RuntimeError(f"timed out after {timeout}s")


def _json(url: str):
    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - 127.0.0.1 only
        return json.load(resp)


def _config(d: Path, replicas: int) -> Path:
    import yaml

    dep = {
        "name": "bench", "replicas": replicas,
        "connectivity": {"mode": "direct", "worker_port_range": list(WORKER_PORTS)},
        "router": {"base_url": f"http://127.0.0.1:{ROUTER_PORT}"},
        "slurm": {"job_name_prefix": "sdbench-", "time_limit": "00:10:00", "log_dir": str(d / "logs")},
        "sglang": {"command": [PY, "-m", "servedeck.lab.standin_sglang"],
                   "args": ["--host", "127.0.0.1", "--port", "{PORT}"]},
        "health": {"interval_s": 0.5, "timeout_s": 1, "consecutive_ok_for_ready": 2, "failures_to_unhealthy": 2},
        "policy": {"restart_backoff_s": 0.2, "deregister_grace_s": 0.2, "start_grace_period_s": 60},
    }
    path = d / "sgorch.yaml"
    path.write_text(yaml.safe_dump({"orchestrator": {"metrics": {"port": 0}, "state_dir": str(d / "state"),
                                                     "tick_s": 0.1}, "deployments": [dep]}))
    return path


def _ready(sock: Path, want: int):
    from servedeck.orchestrator.control import ControlError, request

    try:
        dep = request(sock, {"cmd": "status"})["status"]["deployments"][0]
    except (ControlError, KeyError, IndexError):
        return None
    ready = [w for w in dep["workers"] if w["phase"] == "ready" and w["registered"] and w["listed"]]
    return ready if len(ready) >= want else None


def measure_ready_and_replace(config: Path, repeat: int, replicas: int = 2) -> dict:
    from servedeck.lab.state import LabInfo

    lab = LabInfo.load(config.parent)
    if lab is None or not lab.slurm_conf:
        return {"skipped": "the lab has no SLURM"}
    env = {**os.environ, "SLURM_CONF": lab.slurm_conf}
    to_ready, to_replaced = [], []
    for _ in range(max(1, min(repeat, 3))):
        d = Path(tempfile.mkdtemp(prefix="sd-orch-bench-"))
        (d / "logs").mkdir()
        router = subprocess.Popen([str(Path(PY).parent / "sglang-router"), "launch", "--host", "127.0.0.1",
                                   "--port", str(ROUTER_PORT), "--prometheus-host", "127.0.0.1",
                                   "--prometheus-port", str(ROUTER_PORT + 1), "--log-level", "warn"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        orch = None
        try:
            _until(lambda: _try(lambda: _json(f"http://127.0.0.1:{ROUTER_PORT}/workers")), 30)
            path = _config(d, replicas)
            started = time.perf_counter()
            orch = subprocess.Popen([PY, "-m", "servedeck", "orchestrate", "run", "--config", str(path)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
            ready = _until(lambda: _ready(d / "state" / "control.sock", replicas), 120)
            to_ready.append(time.perf_counter() - started)
            victim = ready[0]
            text = (d / "logs" / f"sdbench-bench-{victim['job_id']}.out").read_text()
            pid = int(text.split("pid=", 1)[1].split()[0])
            killed = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            _until(lambda: (r := _ready(d / "state" / "control.sock", replicas))
                   and victim["instance_id"] not in {w["instance_id"] for w in r}, 120)
            to_replaced.append(time.perf_counter() - killed)
        finally:
            for proc in (orch, router):
                if proc is not None and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
            listed = subprocess.run(["squeue", "-h", "-n", "sdbench-bench", "-o", "%i"], capture_output=True,
                                    text=True, env=env)
            if listed.stdout.split():
                subprocess.run(["scancel", *listed.stdout.split()], env=env, capture_output=True)
    return {"replicas": replicas, "run_to_ready_s": _summary(to_ready), "death_to_replaced_s": _summary(to_replaced)}


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def _summary(samples: list[float]) -> dict:
    return {"median_s": round(statistics.median(samples), 3), "min_s": round(min(samples), 3),
            "max_s": round(max(samples), 3), "samples": [round(s, 3) for s in samples]}


_MANY = r"""
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
            await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()
async def main(base, n):
    servers = [await asyncio.start_server(handle, "127.0.0.1", base + i) for i in range(n)]
    print("up", flush=True)
    await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def measure_reconcile_cpu(config: Path, repeat: int, workers: int = 500, deployments: int = 20) -> dict:
    """One pass over `workers` ready workers: CPU seconds of the orchestrator process."""
    from servedeck.orchestrator.adapters import SlurmJob
    from servedeck.orchestrator.config import SGOrchConfig
    from servedeck.orchestrator.engine import Engine
    from servedeck.orchestrator.sbatch import Marker
    from servedeck.orchestrator.state import READY, Worker

    helper = subprocess.Popen([PY, "-c", _MANY, str(MANY_BASE), str(workers)], stdout=subprocess.PIPE, text=True)
    d = Path(tempfile.mkdtemp(prefix="sd-orch-cpu-"))
    try:
        assert helper.stdout is not None and helper.stdout.readline().strip() == "up"
        per = workers // deployments
        deps = [{"name": f"d{i:02d}", "replicas": per, "backend": {"type": "tei", "args": ["--port", "{PORT}"]},
                 "connectivity": {"worker_port_range": [MANY_BASE + i * per, MANY_BASE + (i + 1) * per - 1],
                                  "node_address": "127.0.0.1"},
                 "health": {"interval_s": 1, "timeout_s": 2}} for i in range(deployments)]
        cfg = SGOrchConfig.model_validate({"orchestrator": {"state_dir": str(d), "metrics": {"enabled": False}},
                                           "deployments": deps})
        jobs, ids = [], itertools.count(1)
        for i, dep in enumerate(cfg.deployments):
            for k in range(per):
                port = MANY_BASE + i * per + k
                jobs.append(SlurmJob(str(next(ids)), dep.job_name, "RUNNING", "node1", 3600,
                                     Marker(dep.name, f"{dep.name}-{k}", port)))

        class MemorySlurm:
            def jobs(self, prefix):
                return [j for j in jobs if j.name.startswith(prefix)]

        engine = Engine(cfg, slurm=MemorySlurm())  # type: ignore[arg-type]
        for job in jobs:
            s = engine.state.deployment(job.marker.deployment)
            s.workers[job.marker.instance_id] = Worker(job.marker.instance_id, job.marker.port, phase=READY,
                                                       job_id=job.job_id, node="node1",
                                                       url=f"http://127.0.0.1:{job.marker.port}")
        engine.run_pass(force=True)  # warm-up: connections, imports
        cpu, wall = [], []
        for _ in range(max(1, repeat)):
            c0, w0 = time.process_time(), time.perf_counter()
            engine.run_pass(force=True)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        ready = sum(1 for s in engine.state.deployments.values() for w in s.workers.values() if w.phase == READY)
        engine.close()
        return {"workers": workers, "deployments": deployments, "ready_after": ready,
                "cpu_s": _summary(cpu), "wall_s": _summary(wall)}
    finally:
        helper.terminate()
        helper.wait(timeout=10)


MEASURES = {
    "orchestrator_ready": measure_ready_and_replace,
    "orchestrator_reconcile_cpu": measure_reconcile_cpu,
}
