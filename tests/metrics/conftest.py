"""Our own Prometheus, node_exporter and stand-in DCGM exporter for the gauge tests.

Tests here stop and restart exporters and Prometheus, so they never touch the session
lab: this stack runs on its own ports (SERVEDECK_TEST_PORT_OFFSET + 9500...), started
with the lab's own recipes and helpers, and stopped by pid when the module ends.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

from servedeck.lab.ports import http_ok, wait_free, wait_until
from servedeck.lab.procs import spawn, stop
from servedeck.lab.services.base import find
from servedeck.lab.services.observability import prometheus_yaml
from support import PORT_OFFSET

LOCAL = "127.0.0.1"
PROM_PORT, NODE_PORT, DCGM_PORT = (PORT_OFFSET + 9500 + i for i in range(3))
IDLE_UTIL = 40.0  # the stand-in GPUs' fixed utilisation: values that are not all zero


class Stack:
    """Start/stop by name; each process is ours by pid and start time."""

    def __init__(self, dir: Path):
        self.dir = dir
        self.procs: dict[str, tuple[int, int]] = {}
        (dir / "prometheus.yml").write_text(prometheus_yaml({
            "node": [f"{LOCAL}:{NODE_PORT}"], "dcgm": [f"{LOCAL}:{DCGM_PORT}"]}))
        self.prometheus_url = f"http://{LOCAL}:{PROM_PORT}"
        self.node_url = f"http://{LOCAL}:{NODE_PORT}/metrics"
        self.dcgm_url = f"http://{LOCAL}:{DCGM_PORT}/metrics"

    def argv(self, name: str) -> list[str]:
        if name == "node":
            return [find("prometheus-node-exporter") or find("node_exporter") or "node_exporter",
                    f"--web.listen-address={LOCAL}:{NODE_PORT}", "--no-collector.systemd",
                    "--no-collector.hwmon", "--no-collector.rapl"]
        if name == "dcgm":
            return [sys.executable, "-m", "servedeck.lab.standin_dcgm", "--host", LOCAL, "--port", str(DCGM_PORT),
                    "--gpus", "2", "--hostname", "metrics-test-host", "--idle-util", str(IDLE_UTIL),
                    "--hpc-jobs", "4711"]
        return [find("prometheus") or "prometheus", f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address={LOCAL}:{PROM_PORT}",
                f"--web.console.templates={self.dir}", f"--web.console.libraries={self.dir}"]

    def start(self, name: str) -> None:
        pid, started = spawn(self.argv(name), self.dir / f"{name}.log", cwd=self.dir)
        self.procs[name] = (pid, started)
        url = {"node": self.node_url, "dcgm": self.dcgm_url, "prometheus": self.prometheus_url + "/-/ready"}[name]
        assert wait_until(lambda: http_ok(url), 30), f"{name} did not start: see {self.dir / name}.log"

    def stop(self, name: str) -> None:
        pid, started = self.procs.pop(name)
        assert stop(pid, started)
        port = {"node": NODE_PORT, "dcgm": DCGM_PORT, "prometheus": PROM_PORT}[name]
        assert not wait_free([port]), f"{name} still listens on {port}"

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if find("prometheus") is None:
        pytest.fail("prometheus is not installed (scripts/setup.sh installs it)", pytrace=False)
    s = Stack(tmp_path_factory.mktemp("metrics-stack"))
    try:
        for name in ("node", "dcgm", "prometheus"):
            s.start(name)
        yield s
    finally:
        s.close()
