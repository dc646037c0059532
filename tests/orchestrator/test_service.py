"""The service without the lab: one orchestrator per state dir, SLURM failures counted and
backed off (never a crash), the circuit breaker notifies, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from orch_support import until
from servedeck.orchestrator.adapters import SlurmError
from servedeck.orchestrator.config import SGOrchConfig
from servedeck.orchestrator.engine import Engine
from servedeck.orchestrator.service import AlreadyRunning, Service


def config(tmp_path, **dep) -> SGOrchConfig:
    return SGOrchConfig.model_validate({
        "orchestrator": {"state_dir": str(tmp_path / "state"), "metrics": {"port": 0}, "tick_s": 0.1},
        "deployments": [{"name": "d", "replicas": 1, "backend": {"type": "tei", "args": ["--port", "{PORT}"]},
                         "slurm": {"log_dir": str(tmp_path / "logs")},
                         "health": {"interval_s": 0.1}, **dep}],
    })


def test_second_orchestrator_on_the_same_state_is_refused(tmp_path):
    first = Service(config(tmp_path))
    try:
        with pytest.raises(AlreadyRunning):
            Service(config(tmp_path))
    finally:
        first.close()
    Service(config(tmp_path)).close()  # free again once the first is gone


class FailingSubmits:
    """A SLURM whose queue is empty and whose sbatch always fails (a real SlurmCLI
    shape; sbatch's failure is what a bad account or partition gives)."""

    def __init__(self):
        self.submits = 0

    def jobs(self, prefix):
        return []

    def submit(self, path):
        self.submits += 1
        raise SlurmError("sbatch", "sbatch exited 1: Invalid account or account/partition combination")


def test_failing_sbatch_backs_off_and_is_counted(tmp_path):
    slurm = FailingSubmits()
    engine = Engine(config(tmp_path), slurm=slurm)  # type: ignore[arg-type]
    try:
        for _ in range(5):
            engine.run_pass(force=True)
        assert slurm.submits == 1  # the error backoff holds the next attempts
        text = engine.metrics.text()
        assert re.search(r'sgorch_slurm_errors_total\{deployment="d",operation="sbatch"\} 1\.0', text)
        assert engine.state.deployment("d").workers == {}  # the failed intent is not left behind
    finally:
        engine.close()


def test_circuit_breaker_notifies(tmp_path, capsys):
    from servedeck.orchestrator import logging_json

    logging_json.setup("INFO")
    cfg = config(tmp_path, policy={"circuit_breaker_failures": 2, "circuit_breaker_cooldown_s": 60,
                                   "restart_backoff_s": 0})
    engine = Engine(cfg, slurm=FailingSubmits())  # type: ignore[arg-type]
    try:
        from servedeck.orchestrator import policy

        s = engine.state.deployment("d")
        policy.record_failure(s, cfg.deployments[0].policy, time.time(), "boot_timeout")
        engine._notify(cfg.deployments[0], s, s.breaker_open_until, set())
        policy.record_failure(s, cfg.deployments[0].policy, time.time(), "boot_timeout")
        engine._notify(cfg.deployments[0], s, 0.0, set())
    finally:
        engine.close()
    lines = [json.loads(l) for l in capsys.readouterr().err.splitlines() if l.startswith("{")]
    assert [l["event"] for l in lines if l["event"].startswith("notify")] == ["notify_circuit_open"]
    assert lines[-1]["level"] == "ERROR" and lines[-1]["deployment"] == "d"


def test_run_survives_a_broken_slurm_and_stops_on_sigterm(tmp_path):
    path = tmp_path / "c.yaml"
    doc = json.loads(config(tmp_path).model_dump_json())
    doc["deployments"][0]["slurm"]["command_timeout_s"] = 2
    path.write_text(yaml.safe_dump(doc))
    env = {"PATH": "/usr/bin:/bin", "SLURM_CONF": str(tmp_path / "no-such-slurm.conf"), "HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "servedeck", "orchestrate", "run", "--config", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        from servedeck.orchestrator.control import ControlError, request

        def metrics_port():
            try:
                return request(tmp_path / "state" / "control.sock", {"cmd": "status"})["status"]["metrics_port"]
            except ControlError:
                return None
        port = until(metrics_port, 30, what="control socket answers")

        def counted():
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            return re.search(r'sgorch_slurm_errors_total\{deployment="d",operation="squeue"\} [1-9]', text)
        until(counted, 30, what="squeue errors counted")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err
    events = [json.loads(l)["event"] for l in err.splitlines() if l.startswith("{")]
    assert events[0] == "orchestrator_start" and events[-1] == "orchestrator_stop" and "slurm_error" in events


def test_corrupt_state_is_a_clear_error_for_every_verb(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(json.loads(config(tmp_path).model_dump_json())))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text("{ torn")
    for verb in (["run"], ["adopt"], ["status"]):
        done = subprocess.run([sys.executable, "-m", "servedeck", "orchestrate", *verb, "--config", str(path)],
                              capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                                                "HOME": str(tmp_path)})
        assert done.returncode == 1 and "corrupt" in done.stderr and "Traceback" not in done.stderr, verb
