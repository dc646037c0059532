"""The Docker backend against the lab's real Docker Engine."""

from __future__ import annotations

import pytest
from servedeck.backends.base import Health
from servedeck.backends.docker.backend import DockerBackend, DockerSettings
from servedeck.backends.runner import BackendRunner

pytestmark = pytest.mark.integration


def test_docker_containers_and_actions(lab, container):
    runner = BackendRunner(DockerBackend(DockerSettings(name="local", url=lab.docker_url)))
    assert runner.poll_once(frozenset()).state.health is Health.OK

    def row():
        snap = runner.poll_once(frozenset({"containers"}))
        assert snap.state.health is Health.OK, snap.state
        return next((r for r in snap.panes["containers"] if r.name == container.name), None)

    r = row()
    assert (r.host, r.id, r.image, r.state) == ("local", container.id[:12], "servedeck-test-busybox:latest", "running")
    assert r.started_at is not None and r.status.startswith("Up")
    result = runner.perform("container.stop", r, readonly=False)
    assert result.ok, result.message
    assert row().state == "exited"
    assert runner.perform("container.start", r, readonly=True).ok is False  # read-only refuses
    assert runner.perform("container.start", r, readonly=False).ok
    assert row().state == "running"

