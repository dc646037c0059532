"""Fault-matrix entries of the ServerlessLLM stack and the autotuner: the Pylet head, the
Pylet worker, the sllm head stand-in, and a tuning (`servedeck tune run`) on the fault
lab's own Docker Engine. Importing this module appends them to FAULTS.

The Pylet worker dies as a host does (SIGKILL, its instances with it): the head notices
by missed heartbeats, so the two-interval clock starts when the head itself reports it
not ONLINE. It comes back under a new id; the old OFFLINE row and its UNKNOWN instances
are Pylet's truth until an operator deletes them, which the entry's cleanup does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fault_matrix import FAULTS, Fault, Snapshots, backend_named, backend_shows, backend_status, url_ok
from servedeck.backends.base import Health
from servedeck.lab.manager import stop_service
from servedeck.lab.services.serverlessllm import stop_instance_leftovers
from servedeck.lab.state import LabInfo
from servedeck.verbs.common import EXIT_DEGRADED, EXIT_UNREACHABLE
from support import PORT_OFFSET

# -- Pylet ------------------------------------------------------------------------------


def head_url(lab: LabInfo) -> str:
    rec = lab.service("pylet-head")
    assert rec is not None and rec.url, "the fault lab runs no Pylet head"
    return rec.url


def head_workers(lab: LabInfo) -> list[dict]:
    try:
        return httpx.get(f"{head_url(lab)}/workers", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return []


def worker_online(lab: LabInfo) -> bool:
    return any(w.get("status") == "ONLINE" for w in head_workers(lab))


def pylet_worker_shows(snaps: Snapshots, lab: LabInfo, state: str) -> bool:
    """The Pylet workers pane: no worker ONLINE (the killed one SUSPECT, then OFFLINE), or one again."""
    snap = backend_named("pylet")(snaps)
    rows = snap.panes.get("pylet_workers", ()) if snap else ()
    online = [r for r in rows if r.status == "ONLINE"]
    if state == "down":
        return bool(rows) and not online and snap.state.health is Health.DEGRADED
    return bool(online)


def pylet_worker_status(doc: dict, lab: LabInfo) -> bool:
    rows = doc.get("pylet_workers", [])
    return bool(rows) and not any(r["status"] == "ONLINE" for r in rows) and \
        any(b["kind"] == "pylet" and b["state"] == "degraded" for b in doc["backends"])


def kill_pylet_worker(lab: LabInfo) -> None:
    """The worker's host is gone: the worker killed (no unregister) and its instances too."""
    rec = lab.service("pylet-worker")
    assert rec is not None and rec.pid
    os.kill(rec.pid, signal.SIGKILL)
    stop_service(lab, "pylet-worker")  # reaps it and records it stopped
    stop_instance_leftovers(lab.dir)


def forget_offline_workers(lab: LabInfo) -> None:
    """What an operator does after a worker was replaced: its UNKNOWN instances and its
    OFFLINE row deleted (Pylet refuses the worker while it has instances)."""
    url = head_url(lab)
    gone = {w["worker_id"] for w in head_workers(lab) if w.get("status") != "ONLINE"}
    if not gone:
        return
    for inst in httpx.get(f"{url}/instances", timeout=5).json():
        if inst.get("assigned_to") in gone:
            httpx.delete(f"{url}/instances/{inst['instance_id']}", timeout=5)
    for worker in gone:
        httpx.delete(f"{url}/workers/{worker}", timeout=5)


# -- the tuner ----------------------------------------------------------------------------

TUNER_PORTS = (21000 + 10 * PORT_OFFSET, 21000 + 10 * PORT_OFFSET + 9)  # clear of tests/tuner's
TASK = {
    "task_name": "fault-tune", "description": "kept busy while the fault matrix kills it", "deployment_mode": "docker",
    "model": {"id_or_path": "standin-model", "namespace": "autotuner"}, "base_runtime": "sglang",
    "parameters": {"mem-fraction-static": [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]},
    "optimization": {"strategy": "grid_search", "objective": "minimize_latency", "timeout_per_iteration": 120},
    "benchmark": {"task": "text-to-text", "model_name": "standin-model", "model_tokenizer": "standin",
                  "traffic_scenarios": ["D(10,10)"], "num_concurrency": [1], "max_time_per_iteration": 20,
                  "max_requests_per_iteration": 100000, "additional_params": {"temperature": 0.0}},
}


def tuner_settings(lab: LabInfo) -> dict:
    """What the fault config adds to the lab's `tuner:` section."""
    return {"port_range": list(TUNER_PORTS), "health_poll_s": 0.3, "benchmark": {"runner": "builtin"}}


class TuningRun:
    """One `servedeck tune run` of the fault lab's config, killed with -9 and resumed."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.config = ""

    @staticmethod
    def state_dir(lab: LabInfo) -> Path:
        return lab.dir / "tuner" / "state"

    def start(self, lab: LabInfo, *extra: str) -> None:
        task = lab.dir / "fault-tune.json"
        log = open(lab.dir / "logs" / "fault-tuner.log", "ab")
        with log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "servedeck", "tune", "run", str(task), "--config", self.config, "--quiet", *extra],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})

    def prepare(self, lab: LabInfo, config: str) -> None:
        import docker

        from servedeck.lab.standin_sglang_image import ensure_image

        self.config = config
        client = docker.DockerClient(base_url=lab.docker_url, timeout=120)
        try:
            ensure_image(client, "servedeck-standin-sglang:lab")  # built before the cockpit opens
        finally:
            client.close()
        (lab.dir / "fault-tune.json").write_text(json.dumps(TASK, indent=2))
        self.start(lab)
        deadline = time.monotonic() + 60
        while not self.answers(lab):
            assert self.proc is not None and self.proc.poll() is None, \
                f"the tuning exited ({self.proc.returncode}): see {lab.dir / 'logs' / 'fault-tuner.log'}"
            assert time.monotonic() < deadline, "the tuner never answered on its control socket"
            time.sleep(0.2)

    def answers(self, lab: LabInfo) -> bool:
        from servedeck.orchestrator.control import ControlError, request

        try:
            return bool(request(self.state_dir(lab) / "tuner.sock", {"cmd": "status"}, timeout=2).get("ok"))
        except ControlError:
            return False

    def kill(self, lab: LabInfo) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def resume(self, lab: LabInfo) -> None:
        self.start(lab, "--resume")

    def cleanup(self, lab: LabInfo) -> None:
        """Stopped as asked, and its state cleared: the Experiments pane idle again."""
        from servedeck.orchestrator.control import ControlError, request

        if self.proc is not None and self.proc.poll() is None:
            try:
                request(self.state_dir(lab) / "tuner.sock", {"cmd": "stop"}, timeout=5)
                self.proc.wait(90)
            except (ControlError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(30)
        for name in ("current", "tuner.lock", "fault-tune.json"):
            (self.state_dir(lab) / name).unlink(missing_ok=True)


def tuner_shows(snaps: Snapshots, lab: LabInfo, state: str) -> bool:
    snap = backend_named("tuner")(snaps)
    if snap is None:
        return False
    if state == "down":
        header = next(iter(snap.panes.get("experiments", ())), None)
        return snap.state.health is Health.DOWN and header is not None and header.phase == "died"
    return snap.state.health is Health.OK and bool(snap.panes.get("experiments"))


TUNING = TuningRun()

FAULTS += [
    Fault("pylet-head", "pylet_workers", backend_shows("pylet"), backend_status("pylet"), EXIT_UNREACHABLE,
          ready=url_ok("/workers", "pylet-head")),
    Fault("sllm-head", "sllm_models", backend_shows("sllm"), backend_status("sllm"), EXIT_UNREACHABLE,
          ready=url_ok("/health", "sllm-head")),
    Fault("pylet-worker", "pylet_workers", pylet_worker_shows, pylet_worker_status, EXIT_DEGRADED,
          ready=worker_online, kill=kill_pylet_worker, noticed=lambda lab: bool(head_workers(lab)) and not worker_online(lab),
          drawn=("SUSPECT", "OFFLINE"), cleanup=forget_offline_workers),
    Fault("tuner", "experiments", tuner_shows, backend_status("tuner"), EXIT_UNREACHABLE,
          ready=TUNING.answers, kill=TUNING.kill, restore=TUNING.resume, drawn=("died",),
          prepare=TUNING.prepare, cleanup=TUNING.cleanup),
]
