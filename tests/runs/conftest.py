"""Fixtures for the helper-container tests: the real Docker Engine and a stand-in helper
image built locally (busybox + the shipped init-run.sh + Debian's node_exporter)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from support import PORT_OFFSET

DOCKER_URL = "unix:///var/run/docker.sock"
PREFIX = f"sdtest-helper-{PORT_OFFSET}"


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.DockerClient(base_url=DOCKER_URL, timeout=60)
        client.ping()
    except Exception as exc:
        pytest.fail(f"no Docker Engine at {DOCKER_URL} (scripts/setup.sh installs and starts one): {exc}",
                    pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def standin_image(docker_client) -> Iterator[str]:
    from servedeck.backends.runs.image import build_standin_image

    tag = f"{PREFIX}-{os.getpid()}:latest"
    build_standin_image(docker_client, tag)
    yield tag
    try:
        docker_client.images.remove(tag, force=True)
    except Exception:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HelperEnv:
    """One helper container under test: its config file, storage root and name."""

    config: Path
    root: Path
    container: str
    node_port: int
    target: dict

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "servedeck", *args[:1], "--config", str(self.config), *args[1:]]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               env={**os.environ, **(env or {})})

    def container_cli(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.cli("container", *args, **kwargs)

    @property
    def pointer(self) -> Path:
        return self.root / "telemetry" / "container_run_meta.env"


@pytest.fixture
def helper_env(tmp_path, standin_image, docker_client) -> Iterator:
    """A factory: helper_env(**target overrides) writes a config with one runs target."""
    made: list[str] = []

    def make(**overrides) -> HelperEnv:
        name = f"{PREFIX}-{uuid.uuid4().hex[:8]}"
        port = free_port()
        target = {
            "name": "helper", "docker_url": DOCKER_URL, "container": name, "image": standin_image,
            "storage_root": str(tmp_path / "root"), "heartbeat": 0.5, "start_timeout": 60,
            "env": {"EXPORTER_LISTEN_HOST": "127.0.0.1", "NODE_EXPORTER_PORT": str(port),
                    "PROMETHEUS_PORT": str(free_port()), "DCGM_EXPORTER_PORT": str(free_port())},
            "serve_shell": ["sh", "-c"],
            **overrides,
        }
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({"backends": {"runs": [target]}}))
        made.append(name)
        return HelperEnv(config, tmp_path / "root", name, port, target)

    yield make
    import docker.errors

    for name in made:
        try:
            docker_client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
