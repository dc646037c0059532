"""Orchestrator benchmarks (added to bench/run.py's MEASURES).

- orchestrator_ready: issue 14's side-by-side with the public sgorch, with exactly its
  settings: 2 replicas in direct mode behind a legacy router (sglang-router 0.1.9, in a
  cached venv like tests/router/test_legacy_router.py), health every 2 s with timeout 2 s,
  ready after 2 OKs, unhealthy after 2 failures, restart backoff 5 s, deregister grace 1 s,
  the lab's stand-in worker as the job (on the lab's real SLURM). Per repeat: seconds from
  `orchestrate run` to both workers ready and listed by the router; the orchestrator's own
  CPU (utime+stime, not its squeue children) over a minute at steady state; seconds from a
  job `scancel`ed behind its back to its replacement listed; seconds from the worker
  process killed (its job kept RUNNING by the wrapper shell) to its replacement listed.
  sgorch's figures from the issue are written beside ours, with the targets.
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
_OFFSET = int(os.environ.get("SERVEDECK_TEST_PORT_OFFSET", "0"))  # side by side with other labs
ROUTER_PORT = 27800 + _OFFSET  # below the ephemeral range
WORKER_PORTS = (27900 + _OFFSET, 27999 + _OFFSET)
MANY_BASE = 28200 + _OFFSET
LEGACY_VENV = Path.home() / ".cache" / "servedeck-test" / "router-0.1.9"
CPU_WINDOW_S = 60.0
# The public sgorch on the same SLURM, router and settings (issue 14), and the targets.
SGORCH = {"run_to_ready_s": 5.04, "scancel_to_replaced_s": 5.68, "kill_to_replaced_s": 12.32,
          "steady_cpu_s_per_min": 0.29}
TARGET_VS_SGORCH = {"run_to_ready_s": 0.8, "scancel_to_replaced_s": 0.8, "kill_to_replaced_s": 0.5}
TARGET_CPU_S_PER_MIN = 0.3
# The worker runs under a shell that outlives it: killing the worker leaves the job RUNNING.
_WRAPPER = '"$0" -m servedeck.lab.standin_sglang "$@"; exec sleep 3600'


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


def legacy_router_python() -> Path:
    """sglang-router 0.1.9's python, installed once into a cached venv (as the legacy router test does)."""
    python = LEGACY_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import sglang_router"],
                                          capture_output=True).returncode == 0:
        return python
    subprocess.run([PY, "-m", "venv", str(LEGACY_VENV)], check=True)
    subprocess.run([str(LEGACY_VENV / "bin" / "pip"), "install", "-q", "sglang-router==0.1.9"], check=True,
                   capture_output=True, timeout=600)
    return python


def _config(d: Path, replicas: int) -> Path:
    import yaml

    dep = {
        "name": "bench", "replicas": replicas,
        "connectivity": {"mode": "direct", "worker_port_range": list(WORKER_PORTS)},
        "router": {"base_url": f"http://127.0.0.1:{ROUTER_PORT}"},
        "slurm": {"job_name_prefix": "sdbench-", "time_limit": "00:30:00", "log_dir": str(d / "logs")},
        "sglang": {"command": ["/bin/sh", "-c", _WRAPPER, PY],
                   "args": ["--host", "127.0.0.1", "--port", "{PORT}"]},
        "health": {"interval_s": 2, "timeout_s": 2, "consecutive_ok_for_ready": 2, "failures_to_unhealthy": 2},
        "policy": {"restart_backoff_s": 5, "deregister_grace_s": 1, "start_grace_period_s": 120},
    }
    path = d / "sgorch.yaml"
    path.write_text(yaml.safe_dump({"orchestrator": {"metrics": {"port": 0}, "state_dir": str(d / "state")},
                                    "deployments": [dep]}))
    return path


def _listed(sock: Path, want: int, without: str = ""):
    """The ready, registered workers (none of them `without`) once `want` of them are
    listed by the router itself; else None."""
    from servedeck.orchestrator.control import ControlError, request

    try:
        dep = request(sock, {"cmd": "status"})["status"]["deployments"][0]
        urls = {u.rstrip("/") for u in _json(f"http://127.0.0.1:{ROUTER_PORT}/list_workers")["urls"]}
    except (ControlError, KeyError, IndexError, OSError, ValueError):
        return None
    ready = [w for w in dep["workers"] if w["phase"] == "ready" and w["registered"]
             and w["instance_id"] != without and w["url"].rstrip("/") in urls]
    return ready if len(ready) >= want else None


def _phases(log: Path, wall0: float) -> dict:
    """Where `run` to ready went, from the orchestrator's own log: seconds from the
    process start to its first line, the first submit, the last worker seen running,
    ready and registered (the first two are the machine's load; the rest SLURM, the
    worker's boot and the probes)."""
    from datetime import datetime, timezone

    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        stamp = datetime.strptime(doc["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        at = stamp.timestamp() - wall0
        first.setdefault(doc["event"], at)
        last[doc["event"]] = at
    names = {"orchestrator_start": first, "worker_pending": first, "worker_starting": last, "worker_ready": last,
             "worker_registered": last}
    return {event: round(table[event], 3) for event, table in names.items() if event in table}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, no children


def _worker_pid(d: Path, job_id: str) -> int:
    """The stand-in's pid: the child of the wrapper shell the job log names."""
    text = (d / "logs" / f"sdbench-bench-{job_id}.out").read_text()
    shell = int(text.split("pid=", 1)[1].split()[0])
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    return int(children[0])


def _one_run(d: Path, env: dict[str, str], replicas: int) -> dict:
    sock = d / "state" / "control.sock"
    out: dict = {}
    path = _config(d, replicas)
    started = time.perf_counter()
    wall0 = time.time()
    with open(d / "orchestrator.log", "wb") as log:
        orch = subprocess.Popen([PY, "-m", "servedeck", "orchestrate", "run", "--config", str(path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        ready = _until(lambda: _listed(sock, replicas), 120)
        out["run_to_ready_s"] = time.perf_counter() - started
        out["run_phases_s"] = _phases(d / "orchestrator.log", wall0)
        time.sleep(5)  # past the first health passes of the ready workers
        c0, w0 = _cpu_s(orch.pid), time.perf_counter()
        time.sleep(CPU_WINDOW_S)
        out["steady_cpu_s_per_min"] = (_cpu_s(orch.pid) - c0) * 60 / (time.perf_counter() - w0)
        ready = _until(lambda: _listed(sock, replicas), 30)
        victim = ready[0]
        cancelled = time.perf_counter()
        subprocess.run(["scancel", victim["job_id"]], env=env, check=True, capture_output=True)
        ready = _until(lambda: _listed(sock, replicas, without=victim["instance_id"]), 120)
        out["scancel_to_replaced_s"] = time.perf_counter() - cancelled
        victim = ready[0]
        pid = _worker_pid(d, victim["job_id"])
        killed = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        _until(lambda: _listed(sock, replicas, without=victim["instance_id"]), 120)
        out["kill_to_replaced_s"] = time.perf_counter() - killed
        state = subprocess.run(["squeue", "-h", "-j", victim["job_id"], "-o", "%T"], env=env, capture_output=True,
                               text=True).stdout.strip()
        out["killed_job_state_after"] = state or "gone"  # cancelled by the orchestrator, not by the kill
    finally:
        if orch.poll() is None:
            os.killpg(orch.pid, signal.SIGTERM)
            orch.wait(timeout=15)
    return out


def measure_ready_and_replace(config: Path, repeat: int, replicas: int = 2) -> dict:
    from servedeck.lab.state import LabInfo

    lab = LabInfo.load(config.parent)
    if lab is None or not lab.slurm_conf:
        return {"skipped": "the lab has no SLURM"}
    env = {**os.environ, "SLURM_CONF": lab.slurm_conf}
    legacy = legacy_router_python()
    runs = []
    for _ in range(max(1, min(repeat, 3))):
        d = Path(tempfile.mkdtemp(prefix="sd-orch-bench-"))
        (d / "logs").mkdir()
        router = subprocess.Popen([str(legacy), "-m", "sglang_router.launch_router", "--host", "127.0.0.1",
                                   "--port", str(ROUTER_PORT), "--prometheus-host", "127.0.0.1",
                                   "--prometheus-port", str(ROUTER_PORT + 1), "--log-level", "warning"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            _until(lambda: _try(lambda: _json(f"http://127.0.0.1:{ROUTER_PORT}/list_workers")), 30)
            runs.append(_one_run(d, env, replicas))
        finally:
            if router.poll() is None:
                os.killpg(router.pid, signal.SIGTERM)
                router.wait(timeout=15)
            listed = subprocess.run(["squeue", "-h", "-n", "sdbench-bench", "-o", "%i"], capture_output=True,
                                    text=True, env=env)
            if listed.stdout.split():
                subprocess.run(["scancel", *listed.stdout.split()], env=env, capture_output=True)
    result: dict = {"replicas": replicas, "router": "sglang-router 0.1.9 (legacy API)",
                    "settings": "direct; health 2 s / timeout 2 s; ready after 2 OKs, unhealthy after 2 failures; "
                                "restart backoff 5 s; deregister grace 1 s",
                    "killed_job_states": [r["killed_job_state_after"] for r in runs],
                    "run_phases_s": [r["run_phases_s"] for r in runs]}
    for key in ("run_to_ready_s", "scancel_to_replaced_s", "kill_to_replaced_s"):
        s = _summary([r[key] for r in runs])
        target = round(TARGET_VS_SGORCH[key] * SGORCH[key], 3)
        result[key] = {**s, "sgorch_s": SGORCH[key], "vs_sgorch": round(s["median_s"] / SGORCH[key], 3),
                       "target_s": target, "target_vs_sgorch": TARGET_VS_SGORCH[key]}
    cpu = [r["steady_cpu_s_per_min"] for r in runs]
    result["steady_cpu_s_per_min"] = {
        "median": round(statistics.median(cpu), 3), "samples": [round(c, 3) for c in cpu],
        "window_s": CPU_WINDOW_S, "sgorch": SGORCH["steady_cpu_s_per_min"],
        "vs_sgorch": round(statistics.median(cpu) / SGORCH["steady_cpu_s_per_min"], 3),
        "target": TARGET_CPU_S_PER_MIN}
    return result


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
