"""Manifest and pointer parsing, the warning taxonomy, and the runs backend over files:
every state a manifest can be in while written or deleted shows as such."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from servedeck.backends.base import PartialPoll
from servedeck.backends.runs.manifests import TAXONOMY, explain, parse_manifest, read_manifest, read_pointer
from servedeck.backends.runs.backend import RunsBackend
from servedeck.backends.runs.rows import describe
from servedeck.backends.runs.settings import RunsSettings
from helper_support import write_manifest

SEED_STRINGS = [  # seed 000, "Warning Taxonomy", with values filled in
    "dcgm-exporter binary not found at /usr/bin/dcgm-exporter; skipping capability grant",
    "setcap not available; ensure dcgm-exporter has cap_sys_admin",
    "dcgm-exporter capability self-check failed; profiling metrics may be unavailable",
    "unable to set cap_sys_admin on /opt/dcgm/bin/dcgm-exporter; start container with --cap-add SYS_ADMIN",
    "nv-hostengine already running (pids: 12,34)",
    "nv-hostengine failed to start; dcgm metrics may be degraded",
    "node_exporter failed to start",
    "dcgm-exporter failed to start",
]


def test_each_seed_warning_is_recognised_by_its_own_entry():
    assert len(TAXONOMY) == 8
    for text, entry in zip(SEED_STRINGS, TAXONOMY):
        explained = explain(text)
        assert explained.known is entry, text
        assert explained.known.meaning and explained.known.remedy


@pytest.mark.parametrize("text", [
    "node_exporter failed to start (port busy)",  # not the exact string
    "prometheus failed to start",
    "nv-hostengine already running",
])
def test_other_warnings_are_unknown(text):
    assert explain(text).known is None


def test_pointer_file_states(tmp_path):
    p = tmp_path / "container_run_meta.env"
    assert read_pointer(p).empty  # missing
    p.write_text("")
    assert read_pointer(p).empty and not read_pointer(p).problem
    p.write_text("CONTAINER_RUN_META_JSON=/telemetry/container_runs/r.json\n")
    ptr = read_pointer(p)
    assert ptr.resolve(tmp_path) == tmp_path / "r.json"
    p.write_text("CONTAINER_RUN_META_JSON=/telemetry/container_runs/r.json\nCONTAINER_RUN_META_JSON_HOST=/h/r.json\n")
    assert read_pointer(p).resolve(tmp_path) == Path("/h/r.json")
    p.write_text("garbage\n")
    assert read_pointer(p).problem and read_pointer(p).empty


def test_manifest_states(tmp_path):
    good = write_manifest(tmp_path, "container-run-20260101T000000Z-aa", warnings=[])
    assert read_manifest(good).state == "ok"
    text = good.read_text()
    assert parse_manifest(good, text[: len(text) // 2]).state == "half-written"
    assert parse_manifest(good, "").state == "half-written"
    assert parse_manifest(good, "{ not json at all }").state == "malformed"
    assert parse_manifest(good, "[1, 2]").state == "malformed"
    assert parse_manifest(good, json.dumps({"run_id": "x"})).state == "malformed"
    assert read_manifest(tmp_path / "gone.json").state == "missing"


NO_DOCKER = "unix:///nonexistent/docker.sock"  # these tests read files only


def settings_for(root: Path, **extra) -> RunsSettings:
    return RunsSettings(name="runs-test", storage_root=str(root), docker_url=NO_DOCKER, **extra)


def poll(backend: RunsBackend) -> tuple[tuple, str]:
    """The rows and the degradation message ("" when none)."""
    try:
        return backend.poll(frozenset({"container_runs"}))["container_runs"], ""
    except PartialPoll as exc:
        return exc.panes["container_runs"], exc.message


def test_backend_lists_current_first_and_history(tmp_path):
    s = settings_for(tmp_path)
    runs = s.manifest_root
    old = write_manifest(runs, "container-run-20260101T000000Z-aa", warnings=[], epoch=1000)
    cur = write_manifest(runs, "container-run-20260102T000000Z-bb", warnings=[SEED_STRINGS[6], "brand new warning"],
                         epoch=2000)
    s.pointer_file.write_text(f"CONTAINER_RUN_META_JSON=/telemetry/container_runs/{cur.name}\n"
                              f"CONTAINER_RUN_META_JSON_HOST={cur}\n")
    rows, message = poll(RunsBackend(s))
    assert "Docker Engine not reachable" in message  # files still listed without Docker
    assert [r.run_id for r in rows] == [cur.stem, old.stem]
    assert rows[0].state == "current" and rows[0].valid_for_benchmark is False and rows[0].unknown_warnings == 1
    assert rows[1].state == "history" and rows[1].valid_for_benchmark is True
    text = describe(rows[0])
    assert "NOT VALID FOR BENCHMARKING: 2 warnings" in text
    assert "UNKNOWN: brand new warning" in text  # shown, not dropped
    assert "No host metrics" in text  # the node_exporter entry's explanation
    assert "VALID FOR BENCHMARKING" in describe(rows[1]).splitlines()[1]


def test_pointer_at_deleted_manifest_is_missing_and_recovers(tmp_path):
    s = settings_for(tmp_path)
    runs = s.manifest_root
    runs.mkdir(parents=True)
    target = runs / "container-run-20260103T000000Z-cc.json"
    s.pointer_file.write_text(f"CONTAINER_RUN_META_JSON_HOST={target}\n")
    backend = RunsBackend(s)
    rows, message = poll(backend)
    assert rows[0].state == "missing" and rows[0].current and rows[0].valid_for_benchmark is None
    assert "current run manifest is missing" in message
    # half-written: the writer has not finished yet
    full = json.dumps(json.loads(write_manifest(tmp_path / "tmp", target.stem, warnings=[]).read_text()), indent=2)
    target.write_text(full[: len(full) // 3])
    rows, message = poll(backend)
    assert rows[0].state == "half-written" and "current run manifest is half-written" in message
    # finished: read again, now current and valid
    target.write_text(full)
    os.utime(target, ns=(1, 10**18))  # a distinct mtime, whatever the clock's resolution
    rows, message = poll(backend)
    assert rows[0].state == "current" and rows[0].valid_for_benchmark is True
    assert "current run manifest" not in message


def test_malformed_history_manifest_does_not_degrade_the_pane(tmp_path):
    s = settings_for(tmp_path)
    s.manifest_root.mkdir(parents=True)
    (s.manifest_root / "container-run-20260104T000000Z-dd.json").write_text("{]")
    rows, message = poll(RunsBackend(s))
    assert rows[0].state == "malformed" and "invalid JSON" in rows[0].problem
    assert "current run manifest" not in message  # only a history entry: the pane is not degraded for it
    assert "Manifest malformed" in describe(rows[0])


def test_host_manifest_root_env_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("HOST_MANIFEST_ROOT", str(tmp_path / "elsewhere"))
    assert settings_for(tmp_path, host_manifest_root="/ignored").manifest_root == tmp_path / "elsewhere"
    monkeypatch.delenv("HOST_MANIFEST_ROOT")
    assert settings_for(tmp_path).manifest_root == tmp_path / "telemetry" / "container_runs"


def test_garbage_pointer_degrades_and_run_log_opens_the_run_file(tmp_path):
    s = settings_for(tmp_path)
    run = write_manifest(s.manifest_root, "container-run-20260105T000000Z-ee", warnings=[])
    s.pointer_file.write_text("not a pointer\n")
    backend = RunsBackend(s)
    assert "names no CONTAINER_RUN_META_JSON" in poll(backend)[1]
    s.pointer_file.write_text(f"CONTAINER_RUN_META_JSON=/telemetry/container_runs/{run.name}\n")
    (row,), message = poll(backend)
    assert "names no" not in message
    assert row.current and row.log_file == str(tmp_path / "telemetry" / "logs" / f"{run.stem}.log")
    result = backend.perform("run.log", row)
    assert result.ok and result.follow_up.source.name == f"run/{run.stem}"
    assert Path(result.follow_up.source.path) == Path(row.log_file)
    assert backend.log_source("run", run.stem).path == Path(row.log_file)
    details = backend.perform("run.details", row)
    assert details.ok and "VALID FOR BENCHMARKING" in details.follow_up.text
