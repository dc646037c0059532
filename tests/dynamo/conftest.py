"""Fixtures for the Dynamo tests: stand-in checkouts made with git, an isolated state dir,
settings pointing at the lab's Docker Engine, and cleanup of every image tag a test made."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from dynamo_support import PREFIX
from servedeck.lab.services.dynamo import make_checkout, ulimit_caps

@pytest.fixture
def checkout(tmp_path) -> Path:
    return make_checkout(tmp_path / "dynamo")


@pytest.fixture(scope="module")
def built_checkout(tmp_path_factory) -> Path:
    return make_checkout(tmp_path_factory.mktemp("dyn") / "dynamo")


@pytest.fixture
def state_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("SERVEDECK_STATE_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def docker_url(lab) -> str:
    return lab.docker_url


@pytest.fixture
def settings(docker_url, state_dir):
    from servedeck.backends.dynamo.backend import DynamoSettings

    return DynamoSettings(name=f"{PREFIX}-host", url=docker_url, state_dir=str(state_dir), build_network="none",
                          run_ulimits=ulimit_caps())


@pytest.fixture
def api(docker_url) -> Iterator:
    import docker

    client = docker.APIClient(base_url=docker_url, timeout=120)
    yield client
    client.close()


@pytest.fixture
def cleanup(api) -> Iterator[list[str]]:
    """Append image tags / container ids; they are removed after the test (only those)."""
    made: list[str] = []
    yield made
    import docker.errors

    for ref in reversed(made):
        try:
            if ref.startswith("container:"):
                api.remove_container(ref.split(":", 1)[1], force=True)
            else:
                api.remove_image(ref, noprune=False)
        except docker.errors.APIError:
            pass

