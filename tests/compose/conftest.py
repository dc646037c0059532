"""Fixtures for the compose tests: the lab's Docker Engine, a busybox image built here,
and fresh Compose projects (named with this run's prefix) brought down after each test."""

from __future__ import annotations

from typing import Callable, Iterator

import docker
import pytest

from compose_support import Project, build_busybox, new_project
from servedeck.backends.compose.backend import ComposeBackend, ComposeSettings


@pytest.fixture(scope="session")
def compose_image(lab, tmp_path_factory) -> str:
    client = docker.DockerClient(base_url=lab.docker_url, timeout=120)
    try:
        return build_busybox(client, tmp_path_factory.mktemp("sdcompose-image"))
    finally:
        client.close()


@pytest.fixture
def make_project(lab, compose_image, tmp_path) -> Iterator[Callable[[], Project]]:
    made: list[Project] = []

    def make() -> Project:
        project = new_project(tmp_path, lab.docker_url)
        made.append(project)
        return project

    yield make
    for project in made:
        project.compose("down", "-v", "-t", "1", check=False)


@pytest.fixture
def config_file(lab, tmp_path) -> str:
    path = tmp_path / "servedeck.yaml"
    path.write_text(f"backends:\n  compose:\n    - {{name: test-compose, url: '{lab.docker_url}'}}\n")
    return str(path)


@pytest.fixture
def backend(lab) -> Iterator[ComposeBackend]:
    b = ComposeBackend(ComposeSettings(name="test-compose", url=lab.docker_url))
    yield b
    b.close()
