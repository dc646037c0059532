"""Failures reach the runner as states with one-line messages and hints, never tracebacks.

Each case points a backend at something real that is not there: a socket path that does
not exist, a closed port, an empty PATH.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from servedeck.backends.base import BackendContext, Health
from servedeck.backends.docker.backend import DockerBackend, DockerSettings, format_ports, parse_docker_time
from servedeck.backends.metrics.prometheus import PrometheusBackend, PrometheusSettings
from servedeck.backends.router.backend import RouterBackend, RouterSettings
from servedeck.backends.runner import BackendRunner
from servedeck.backends.slurm.backend import SlurmBackend, SlurmSettings
from servedeck.backends.ssh.pool import SSHPool
from servedeck.config.model import SSHHost

ALL = frozenset({"containers", "targets", "jobs", "workers"})


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def down(backend, wanted=ALL):
    runner = BackendRunner(backend)
    for w in (frozenset(), wanted):
        snap = runner.poll_once(w & frozenset(p.key for p in backend.panes) if w else w)
        assert snap.state.health is Health.DOWN, snap.state
        assert "\n" not in snap.state.message and "Traceback" not in snap.state.message
        assert snap.state.latency_ms is not None
    return snap.state


def test_docker_socket_missing(tmp_path):
    url = f"unix://{tmp_path}/docker.sock"
    state = down(DockerBackend(DockerSettings(name="d", url=url)))
    assert state.message == f"Docker Engine not reachable at {url} (no such socket)"
    assert state.hint == "start dockerd or set backends.docker[].url"


def test_docker_tcp_refused(closed_port):
    state = down(DockerBackend(DockerSettings(name="d", url=f"tcp://127.0.0.1:{closed_port}", timeout=3)))
    assert "connection refused" in state.message


def test_prometheus_refused(closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    state = down(PrometheusBackend(PrometheusSettings(name="p", url=url)))
    assert state.message == f"Prometheus not reachable at {url}"


def test_router_refused(closed_port):
    state = down(RouterBackend(RouterSettings(name="r", url=f"http://127.0.0.1:{closed_port}")))
    assert state.message.startswith("router not reachable at")


def test_slurm_commands_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no squeue, no scontrol
    state = down(SlurmBackend(SlurmSettings(name="s")))
    assert state.hint == "SLURM commands not found on PATH"
    assert "not found" in state.message


def test_slurm_over_unconfigured_ssh_host():
    pool = SSHPool({})
    state = down(SlurmBackend(SlurmSettings(name="s", ssh="nowhere"), BackendContext(extras={"ssh": pool})))
    assert "ssh host 'nowhere' is not configured" in state.message


def test_slurm_over_ssh_refused(closed_port):
    pool = SSHPool({"lab": SSHHost(hostname="127.0.0.1", port=closed_port, user="root", connect_timeout_s=3)})
    state = down(SlurmBackend(SlurmSettings(name="s", ssh="lab"), BackendContext(extras={"ssh": pool})))
    assert state.message == f"ssh host lab (root@127.0.0.1:{closed_port}) refused the connection"


def test_docker_helpers():
    assert format_ports([{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                         {"PrivatePort": 9000, "Type": "tcp"}]) == "127.0.0.1:8080->80/tcp, 9000/tcp"
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("2024-05-01T10:00:00.123456789Z") == pytest.approx(1714557600.123456)


def test_backends_never_import_textual():
    code = ("import sys, servedeck.backends.docker.backend, servedeck.backends.metrics.prometheus, "
            "servedeck.backends.slurm.backend, servedeck.backends.router.backend, servedeck.backends.ssh.pool; "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
