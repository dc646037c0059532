"""Actions and verbs through the real Compose CLI: up, restart, down (a service, the
project), down -v (volumes too), build and the pull-free rebuild, with confirmation and
the read-only refusal; a missing CLI is one clear line."""

from __future__ import annotations

import docker
import pytest

from servedeck.backends.compose import cli as compose_cli
from servedeck.backends.compose.backend import ComposeBackend, ComposeSettings
from servedeck.backends.runner import BackendRunner
from servedeck.cli import main
from servedeck.lab.ports import wait_until
from servedeck.verbs.common import EXIT_FAILED, EXIT_OK, EXIT_REFUSED

from compose_support import IMAGE

pytestmark = pytest.mark.integration


def rows_of(backend, project):
    return {r.service: r for r in backend.rows() if r.project == project}


def volumes(lab, project) -> set[str]:
    client = docker.DockerClient(base_url=lab.docker_url, timeout=30)
    try:
        return {v.name for v in client.volumes.list(filters={"label": f"com.docker.compose.project={project}"})}
    finally:
        client.close()


def test_restart_and_down_of_one_service_then_down_v(make_project, backend, config_file, lab):
    project = make_project()
    base = ["--config", config_file, "compose", "-p", project.name]
    assert main(["--config", config_file, "compose", "-f", str(project.file), "-p", project.name, "up", "db"]) == 0
    assert wait_until(lambda: rows_of(backend, project.name)["db"].health == "healthy", 30, interval=0.5)
    before = rows_of(backend, project.name)["db"].started_at

    assert main(base + ["restart", "db"]) == EXIT_FAILED  # destructive: no terminal, no --yes
    assert rows_of(backend, project.name)["db"].started_at == before
    assert main(base + ["restart", "db", "--yes"]) == EXIT_OK
    assert rows_of(backend, project.name)["db"].started_at > before

    assert main(base + ["up", "web"]) == EXIT_OK  # waits for db healthy first
    assert rows_of(backend, project.name)["web"].state == "running"
    assert main(base + ["down", "web", "--yes"]) == EXIT_OK  # one service: stopped and removed
    assert set(rows_of(backend, project.name)) == {"", "db"}

    assert volumes(lab, project.name) == {f"{project.name}_data"}
    assert main(base + ["down", "--yes"]) == EXIT_OK
    assert rows_of(backend, project.name) == {}
    assert volumes(lab, project.name) == {f"{project.name}_data"}  # plain down keeps volumes
    file = ["--config", config_file, "compose", "-f", str(project.file), "-p", project.name]
    assert main(file + ["up", "db"]) == EXIT_OK
    assert main(base + ["down", "-v", "--yes"]) == EXIT_OK
    assert volumes(lab, project.name) == set()


def test_readonly_refuses_and_changes_nothing(make_project, backend, config_file, capsys):
    project = make_project()
    project.compose("up", "-d", "db")
    capsys.readouterr()
    rc = main(["--config", config_file, "--readonly", "compose", "-p", project.name, "down", "--yes"])
    assert rc == EXIT_REFUSED
    assert "read-only" in capsys.readouterr().err
    row = rows_of(backend, project.name)[""]
    assert row.state == "running 1/1"
    result = BackendRunner(backend).perform("compose.down", row, readonly=True)
    assert not result.ok and "read-only" in result.message
    assert rows_of(backend, project.name)[""].state == "running 1/1"
    assert BackendRunner(backend).perform("compose.logs", row, readonly=True).ok  # reading is allowed


def test_build_and_rebuild_without_pulling(make_project, backend, lab):
    project = make_project()
    (project.dir / "app").mkdir()
    (project.dir / "app" / "Dockerfile").write_text(f"FROM {IMAGE}\nCOPY version /version\n")
    (project.dir / "app" / "version").write_text("one\n")
    built = f"{project.name}-built:latest"
    project.write({"services": {"app": {
        "build": {"context": "app", "network": "host"}, "image": built, "network_mode": "host",
        "command": ["sh", "-c", "cat /version; exec sleep 3600"], "stop_grace_period": "1s"}}})
    project.compose("build")
    project.compose("up", "-d")
    row = rows_of(backend, project.name)["app"]
    first_id = row.full_id

    (project.dir / "app" / "version").write_text("two\n")
    result = backend.perform("compose.build", row)
    assert result.ok, result.message
    assert rows_of(backend, project.name)["app"].full_id == first_id  # build alone recreates nothing
    result = backend.perform("compose.rebuild", rows_of(backend, project.name)[""])
    assert result.ok, result.message
    after = rows_of(backend, project.name)["app"]
    assert after.full_id != first_id and after.state == "running"
    logs = project.compose("logs", "--no-color", "app").stdout
    assert "two" in logs
    project.compose("down", "-t", "1", "--rmi", "all")  # the image this test built (its tag is its own)
    client = docker.DockerClient(base_url=lab.docker_url, timeout=30)
    try:
        assert not client.images.list(name=built.partition(":")[0])
    finally:
        client.close()


def test_missing_cli_is_one_clear_line(make_project, lab, config_file, capsys, monkeypatch):
    project = make_project()
    project.compose("up", "-d", "once")
    b = ComposeBackend(ComposeSettings(name="x", url=lab.docker_url, cli=["/nonexistent/docker-compose"]))
    try:
        row = rows_of(b, project.name)[""]
        result = b.perform("compose.up", row)
        assert not result.ok
        assert "no Docker Compose CLI found" in result.message and "apt-get install docker-compose" in result.message
        assert "\n" not in result.message
    finally:
        b.close()
    monkeypatch.setenv("PATH", "/nonexistent")
    compose_cli.forget()
    try:
        capsys.readouterr()
        assert main(["--config", config_file, "compose", "-p", project.name, "up"]) == EXIT_FAILED
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no Docker Compose CLI found" in err[0]
    finally:
        compose_cli.forget()
