"""OME mode end to end through the official kubernetes client against the stand-in API
server (ome.io/v1beta1 paths, watch streams) and its stand-in controller: InferenceServices
per experiment, Ready watched, a failing engine recorded with its log, BenchmarkJobs
waited for until `Completed`, everything deleted afterwards."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from support import PORT_OFFSET
from tuner_support import results_of, servedeck, write_config, write_task

pytestmark = pytest.mark.integration
API_PORT = 23000 + PORT_OFFSET


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[Path]:
    work = tmp_path / "kube"
    proc = subprocess.Popen([sys.executable, "-m", "servedeck.lab.standin_kube_apiserver", "--port", str(API_PORT),
                             "--work-dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kubeconfig = work / "kubeconfig"
    deadline = time.monotonic() + 30
    while not kubeconfig.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert kubeconfig.exists(), "the stand-in API server did not start"
    try:
        yield kubeconfig
    finally:
        proc.terminate()
        proc.wait(15)


def _isvcs(kubeconfig: Path, ns: str) -> list[str]:
    from kubernetes import client, config

    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))
    found = api.list_namespaced_custom_object("ome.io", "v1beta1", ns, "inferenceservices")
    return [o["metadata"]["name"] for o in found["items"]]


@pytest.mark.parametrize("runner", ["builtin", "benchmarkjob"])
def test_ome_mode_end_to_end(tmp_path: Path, apiserver: Path, runner: str) -> None:
    cfg = write_config(tmp_path, "unix:///nonexistent", kubeconfig=str(apiserver), benchmark={"runner": runner})
    task = write_task(tmp_path, f"ome-{runner}", {"tp_size": {"type": "choice", "values": [1]},
                                                  "mem_frac": {"type": "choice", "values": [0.95, 0.8]}},
                      model={"name": "llama-3-2-1b-instruct", "namespace": f"autotuner{PORT_OFFSET}"})
    done = servedeck("tune", "run", str(task), "--mode", "ome", "--config", str(cfg))
    assert done.returncode == 0, done.stderr[-3000:]
    doc = results_of(tmp_path, f"ome-{runner}")
    assert doc["mode"] == "ome"
    failed, ok = doc["all_results"]
    assert failed["status"] == "failed" and "EngineFailed" in failed["error"]
    assert "OutOfMemoryError" in failed["container_logs"] and failed["container"] == f"ome-{runner}-exp1"
    assert ok["status"] == "success" and ok["benchmark_runner"] == ("ome-benchmarkjob" if runner == "benchmarkjob" else "builtin")
    assert ok["metrics"]["total_completed_requests"] > 0 and doc["best_result"]["experiment_id"] == 2
    assert _isvcs(apiserver, f"autotuner{PORT_OFFSET}") == []  # every InferenceService deleted
    if runner == "benchmarkjob":
        assert "BenchmarkJob" in done.stderr and "Completed" in done.stderr
