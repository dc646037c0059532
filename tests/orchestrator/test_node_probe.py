"""Node probes against a running stand-in SGLang worker (the lab's, a real HTTP server
with the OpenAI chat API): latency and failures reach /metrics under sgorch's names, the
status document and the Deployments pane (issue 15, part 5)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from servedeck.backends.orchestrator.backend import rows
from servedeck.orchestrator import status
from servedeck.orchestrator.config import NodeProbeSettings, SGOrchConfig
from servedeck.orchestrator.metrics import Metrics
from servedeck.orchestrator.node_probe import NodeProber
from servedeck.orchestrator.state import READY, State, Worker
from orch_support import until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def worker():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "servedeck.lab.standin_sglang", "--port", str(port),
                             "--tokens-per-second", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _answers(port), timeout=20)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_probes_report_latency_and_failures(worker):
    dead = f"http://127.0.0.1:{_free_port()}"
    metrics = Metrics()
    prober = NodeProber(NodeProbeSettings(enabled=True, interval_s=3600, timeout_s=5), metrics)
    try:
        prober.tick("d", [worker, dead], "standin-model")
        until(lambda: len(prober.results("d")) == 2, timeout=20)
        results = prober.results("d")
        assert results[worker].ok and results[worker].latency_s > 0
        assert not results[dead].ok and "not reachable" in results[dead].detail
        text = metrics.text()
        assert f'sgorch_node_probe_total{{deployment="d",status="success",worker="{worker}"}} 1.0' in text
        assert f'sgorch_node_probe_success{{deployment="d",worker="{dead}"}} 0.0' in text
        assert f'sgorch_node_probe_latency_seconds_count{{deployment="d",worker="{worker}"}} 1.0' in text
        prober.tick("d", [worker, dead], "standin-model")  # not due yet: no second probe
        time.sleep(0.2)
        assert 'status="success",worker="%s"} 1.0' % worker in metrics.text()

        config = SGOrchConfig.model_validate({"orchestrator": {"node_probe": {"enabled": True}}, "deployments": [
            {"name": "d", "replicas": 1, "backend": {"type": "tei", "model_id": "m"}}]})
        state = State()
        s = state.deployment("d")
        s.workers["w1"] = Worker(instance_id="w1", port=1, phase=READY, phase_since=time.time(), url=worker)
        s.workers["w2"] = Worker(instance_id="w2", port=2, phase=READY, phase_since=time.time(), url=dead)
        doc = status.build(config, state, time.time(), running=True, probes=prober.results)
        by_instance = {r.instance: r for r in rows(doc)}
        assert by_instance["w1"].probe.startswith("ok ") and by_instance["w1"].probe.endswith(" ms")
        assert by_instance["w2"].probe.startswith("failed: not reachable")
        prober.tick("d", [worker], "standin-model")  # w2 is gone: its result is forgotten
        assert dead not in prober.results("d")
    finally:
        prober.close()


def test_disabled_probes_send_nothing(worker):
    metrics = Metrics()
    prober = NodeProber(NodeProbeSettings(enabled=False), metrics)
    prober.tick("d", [worker], "m")
    time.sleep(0.3)
    assert prober.results("d") == {} and "sgorch_node_probe_total{" not in metrics.text()
    prober.close()
