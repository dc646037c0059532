"""Label and compose-file parsing: v2's depends_on label, v1's file, the order they give."""

from __future__ import annotations

from servedeck.backends.compose.labels import (
    DependsFromFiles, dependency_order, describe_depends, exit_code, parse_depends_label, read_labels, summary_state,
    worst_health,
)


def test_v2_depends_label_and_plain_labels():
    labels = read_labels({
        "com.docker.compose.project": "p", "com.docker.compose.service": "web",
        "com.docker.compose.project.config_files": "/a/compose.yml,/a/override.yml",
        "com.docker.compose.project.working_dir": "/a",
        "com.docker.compose.depends_on": "db:service_healthy:false,cache:service_started:true",
    })
    assert labels.config_files == ("/a/compose.yml", "/a/override.yml")
    assert labels.depends_on == {"db": "service_healthy", "cache": "service_started"}
    assert describe_depends(labels.depends_on) == "cache, db (healthy)"
    assert read_labels({"app": "x"}) is None
    assert parse_depends_label("") == {}


def test_order_puts_dependencies_first_and_survives_cycles():
    order = dependency_order({"web": ["db", "cache"], "cache": ["db"], "a": ["b"], "b": ["a"]},
                             ["web", "db", "cache", "a", "b"])
    assert order["db"] < order["cache"] < order["web"]
    assert set(order) == {"web", "db", "cache", "a", "b"}


def test_depends_from_files_merges_files_and_reads_both_forms(tmp_path):
    (tmp_path / "a.yml").write_text("services:\n  web:\n    depends_on: [db]\n  db: {}\n")
    (tmp_path / "b.yml").write_text("services:\n  web:\n    depends_on:\n      cache: {condition: service_healthy}\n")
    got = DependsFromFiles().get(("a.yml", "b.yml"), str(tmp_path))
    assert got["web"] == {"db": "service_started", "cache": "service_healthy"}
    assert DependsFromFiles().get(("missing.yml",), str(tmp_path)) == {}


def test_exit_code_summary_and_health():
    assert exit_code("exited", "Exited (137) 2 minutes ago") == 137
    assert exit_code("running", "Up 2 minutes") is None
    assert summary_state(["running", "running"]) == "running 2/2"
    assert summary_state(["exited", "exited"]) == "exited 0/2"
    assert summary_state(["running", "exited"]) == "degraded 1/2"
    assert worst_health(["healthy", "", "unhealthy"]) == "unhealthy"
    assert worst_health(["", ""]) == ""
