"""Projects found from the labels the real Compose CLI wrote: states, health from the
healthchecks, depends_on order, exit codes, and the project's own file and directory."""

from __future__ import annotations

import pytest

from servedeck.cli import main
from servedeck.lab.ports import wait_until

pytestmark = pytest.mark.integration


def rows_of(backend, project):
    return {r.service: r for r in backend.rows() if r.project == project}


def test_states_health_and_depends_on_order(make_project, backend, config_file, capsys):
    project = make_project()
    assert main(["--config", config_file, "compose", "-f", str(project.file), "-p", project.name, "up"]) == 0
    assert wait_until(lambda: rows_of(backend, project.name).get("bad", None) is not None
                      and rows_of(backend, project.name)["bad"].health == "unhealthy", 30, interval=0.5)
    rows = rows_of(backend, project.name)
    assert set(rows) == {"", "db", "web", "bad", "once"}
    assert (rows["db"].state, rows["db"].health) == ("running", "healthy")
    assert rows["web"].state == "running" and rows["web"].health == ""  # no healthcheck of its own
    assert rows["web"].depends_on == "db (healthy)"
    assert (rows["once"].state, rows["once"].exit_code) == ("exited", 3)
    assert rows["db"].exit_code is None and rows["db"].started_at is not None
    assert rows["db"].image.startswith("sdcompose") and rows["db"].container == f"{project.name}_db_1"

    ordered = [r.service for r in backend.rows() if r.project == project.name]
    assert ordered[0] == ""  # the project row comes first, its services beneath
    assert ordered.index("db") < ordered.index("web")

    head = rows[""]
    assert head.kind == "project" and head.state == "degraded 3/4" and head.health == "unhealthy"
    assert head.config_files == (str(project.file),)  # the verb passed -f with the absolute path
    assert head.working_dir == str(project.dir)

    capsys.readouterr()
    assert main(["--config", config_file, "compose", "-p", project.name, "ps", "--json"]) == 0
    import json

    listed = json.loads(capsys.readouterr().out)["compose"]
    assert {r["service"] for r in listed} == {"", "db", "web", "bad", "once"}
    assert all(r["project"] == project.name for r in listed)


def test_other_containers_and_projects_are_not_mixed_in(make_project, backend):
    first, second = make_project(), make_project()
    first.compose("up", "-d", "db")
    second.compose("up", "-d", "once")
    assert wait_until(lambda: set(rows_of(backend, second.name)) == {"", "once"}, 30, interval=0.5)
    assert set(rows_of(backend, first.name)) == {"", "db"}
    assert rows_of(backend, first.name)[""].state == "running 1/1"
    ids = [r.id for r in backend.rows()]
    assert len(ids) == len(set(ids))  # every row addressable on its own


def test_a_failing_healthcheck_shows_failing_in_ps(make_project, config_file, capsys):
    project = make_project()
    project.compose("up", "-d", "bad")
    assert main(["--config", config_file, "compose", "-p", project.name, "ps"]) == 0
    capsys.readouterr()

    def bad_unhealthy() -> bool:
        main(["--config", config_file, "compose", "-p", project.name, "ps"])
        out = capsys.readouterr().out
        return any(line.split()[2:5] == ["bad", "running", "unhealthy"] for line in out.splitlines()[1:]
                   if len(line.split()) > 4)

    assert wait_until(bad_unhealthy, 30, interval=0.5)
