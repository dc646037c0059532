"""The lab's helper container: `lab up` starts one run whose manifest and warnings appear
through the lab's own config, and `lab down` removes exactly that container."""

from __future__ import annotations

import docker.errors
import pytest

from servedeck.backends.fleet import Fleet
from servedeck.config import load_config
from servedeck.lab.services.base import Context
from servedeck.lab.services.helper_container import recorded_target, start_helper, stop_helper
from servedeck.lab.state import LabInfo
from servedeck.status import snapshot_document
from support import lab_ports

pytestmark = pytest.mark.integration


def test_lab_up_starts_a_helper_run_visible_in_its_cockpit(lab: LabInfo, docker_client):
    target = recorded_target(lab.dir)
    assert target is not None
    assert docker_client.containers.get(target["container"]).status == "running"
    loaded = load_config(str(lab.config_path))
    (runs,) = [t for t in loaded.targets if t.kind == "runs"]
    assert runs.settings.container == target["container"]
    fleet = Fleet.from_config(loaded)
    try:
        document = snapshot_document(fleet.poll_all(["container_runs"]))
    finally:
        fleet.close()
    (current,) = [r for r in document["container_runs"] if r["current"]]
    assert current["backend"] == "lab-runs" and current["run_id"].startswith("container-run-")
    assert "dcgm-exporter failed to start" in current["warnings"]
    assert current["telemetry_surfaces"]["node_metrics"] == "running"


def test_stop_helper_removes_the_recorded_container(tmp_path, standin_image, docker_client, monkeypatch):
    import servedeck.lab.services.helper_container as service

    monkeypatch.setattr(service, "IMAGE", standin_image)  # already built by the session fixture
    info = LabInfo(dir=tmp_path, docker_url="unix:///var/run/docker.sock")
    ports = lab_ports().shifted(7)  # its own container name and in-container ports
    ctx = Context(dir=tmp_path, ports=ports, info=info, log=lambda _: None)
    start_helper(ctx)
    name = recorded_target(tmp_path)["container"]
    assert docker_client.containers.get(name).status == "running"
    stop_helper(tmp_path, lambda _: None)
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(name)
    assert recorded_target(tmp_path) is None
