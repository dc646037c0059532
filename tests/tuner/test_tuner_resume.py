"""kill -9 in the middle of an experiment, then --resume: the finished experiment is not
run again, the half-started one's container is removed and the combination re-run, and
no container is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import our_containers
from tuner_support import results_of, servedeck, state_of, write_config, write_task

pytestmark = pytest.mark.integration


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_mid_experiment_then_resume(tmp_path: Path, tuner_docker, lab) -> None:
    cfg = write_config(tmp_path, lab.docker_url)
    task = write_task(tmp_path, "resume3", {"mem-fraction-static": [0.7, 0.75, 0.8]},
                      benchmark={"num_concurrency": [1], "max_requests_per_iteration": 40})
    log = (tmp_path / "run1.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "servedeck", "tune", "run", str(task), "--config", str(cfg)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def exp2_benchmarking():
            try:
                exps = state_of(tmp_path, "resume3")["experiments"]
            except (OSError, ValueError):
                return None
            return exps if len(exps) >= 2 and exps[1]["status"] == "benchmarking" else None

        before = _wait_for(exp2_benchmarking, 120, "exp2 to benchmark")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert before[0]["status"] == "success"
    half = before[1]["container"]
    assert half in our_containers(tuner_docker)  # the kill left it running

    refused = servedeck("tune", "run", str(task), "--config", str(cfg))
    assert refused.returncode == 1 and "--resume" in refused.stderr  # nothing is silently thrown away

    done = servedeck("tune", "run", str(task), "--resume", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert f"removing {half}" in done.stderr
    after = state_of(tmp_path, "resume3")
    exps = after["experiments"]
    assert [e["status"] for e in exps] == ["success"] * 3 and after["resumes"] == 1
    assert [e["attempts"] for e in exps] == [1, 2, 1]  # exp1 not repeated, exp2 re-run once, exp3 once
    assert exps[0]["finished_at"] == before[0]["finished_at"] and exps[0]["metrics"] == before[0]["metrics"]
    assert len({json.dumps(e["parameters"], sort_keys=True) for e in exps}) == 3
    assert results_of(tmp_path, "resume3")["total_experiments"] == 3
    assert our_containers(tuner_docker) == []
