"""Fixtures for the Dynamo tests: stand-in checkouts made with git, an isolated state dir,
settings pointing at the lab's Docker Engine, and cleanup of every image tag a test made."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from support import PORT_OFFSET
from servedeck.lab.services.dynamo import make_checkout, ulimit_caps

PREFIX = f"sd{PORT_OFFSET}dyn"  # every image/container a test names starts with this


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


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


def tags_of(plan) -> list[str]:
    return [t for b in plan.builds for t in b.tags]


def env_without_tokens() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "HF_HOME")}
