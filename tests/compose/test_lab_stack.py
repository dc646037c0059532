"""The lab's Compose stack: the real Pylet head and worker brought up by the real Compose
CLI, healthy in depends_on order, the worker registered with the head; the lab config
names the compose target; lab down brings down exactly the project it recorded."""

from __future__ import annotations

import json

import httpx
import pytest

from servedeck.backends.compose.backend import ComposeBackend, ComposeSettings
from servedeck.config import load_config
from servedeck.lab.services.compose_stack import RECORD, STANDIN_SLLM_HEAD, recorded_stack, stop_stack

pytestmark = pytest.mark.integration


def test_stack_runs_healthy_and_the_worker_registered(lab):
    stack = recorded_stack(lab.dir)
    assert stack is not None, "lab up did not bring up the compose stack"
    loaded = load_config(str(lab.config_path))
    assert [t["url"] for t in loaded.config.backends["compose"]] == [lab.docker_url]

    backend = ComposeBackend(ComposeSettings(name="lab-compose", url=lab.docker_url))
    try:
        rows = {r.service: r for r in backend.rows() if r.project == stack["project"]}
    finally:
        backend.close()
    with_sllm = STANDIN_SLLM_HEAD.exists()  # the sllm head stand-in joins once its module is there
    services = ["pylet_head", "pylet_worker"] + (["sllm_head"] if with_sllm else [])
    assert list(rows) == ["", *services]  # dependencies first
    assert all(rows[s].state == "running" and rows[s].health == "healthy" for s in services)
    assert rows["pylet_worker"].depends_on == "pylet_head (healthy)"
    assert rows[""].config_files == (stack["file"],)

    workers = httpx.get(f"{stack['pylet_head']}/workers", timeout=5).json()
    assert [w["status"] for w in workers] == ["ONLINE"]
    assert workers[0]["total_resources"]["gpu_units"] == 2
    assert httpx.get(f"{stack['pylet_worker']}/health", timeout=5).json() == {"status": "ok"}
    if with_sllm:
        assert rows["sllm_head"].depends_on == "pylet_head (healthy), pylet_worker"
        health = httpx.get(f"{stack['sllm_head']}/health", timeout=5).json()
        assert health["pylet_connected"] is True


def test_down_removes_only_the_recorded_project(make_project, backend, tmp_path):
    mine, other = make_project(), make_project()
    mine.compose("up", "-d", "db")
    other.compose("up", "-d", "db")
    lab_dir = tmp_path / "lab"
    (lab_dir / "compose").mkdir(parents=True)
    (lab_dir / "compose" / RECORD).write_text(json.dumps(
        {"project": mine.name, "file": str(mine.file), "docker_url": mine.docker_url}))
    lines: list[str] = []
    stop_stack(lab_dir, lines.append)
    projects = {r.project for r in backend.rows()}
    assert mine.name not in projects and other.name in projects
    assert not (lab_dir / "compose" / RECORD).exists()
    assert lines == [f"compose stack {mine.name}: down"]
