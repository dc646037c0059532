"""Fixtures for the autotuner tests: the real Docker Engine (through the lab) and the
stand-in SGLang image built from this machine's Python; containers removed after each test."""

from __future__ import annotations

from typing import Iterator

import docker
import pytest

from servedeck.lab.standin_sglang_image import ensure_image
from tuner_support import IMAGE, PREFIX


@pytest.fixture(scope="session")
def docker_client(lab) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=lab.docker_url, timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def standin_image(docker_client) -> str:
    ensure_image(docker_client, IMAGE)
    return IMAGE


def our_containers(client: docker.DockerClient) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"name": PREFIX}) if c.name.startswith(PREFIX)]


@pytest.fixture
def tuner_docker(docker_client, standin_image, lab) -> Iterator[docker.DockerClient]:
    """The Docker client; every container of ours is removed afterwards (the test checks first)."""
    yield docker_client
    for name in our_containers(docker_client):
        try:
            docker_client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
