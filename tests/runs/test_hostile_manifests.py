"""Hostile and broken run manifests: each gets a one-line outcome on its own row, and the
healthy runs beside it keep their rows (issue 15, part 3)."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servedeck.backends.runs.backend import RunsBackend
from servedeck.backends.runs.manifests import MAX_MANIFEST_BYTES, parse_manifest, read_manifest
from servedeck.backends.runs.rows import describe, row_from
from servedeck.text import safe
from helper_support import write_manifest
from test_manifests import poll, settings_for

BIDI = "\u202e\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200e\u200f"


def test_a_deeply_nested_manifest_spoils_only_its_own_row(tmp_path):
    s = settings_for(tmp_path)
    runs = s.manifest_root
    healthy = [write_manifest(runs, f"container-run-2026010{i}T000000Z-aa", warnings=[], epoch=1000 + i)
               for i in range(1, 4)]
    deep = runs / "container-run-20260109T000000Z-zz.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    rows, _message = poll(RunsBackend(s))
    by_id = {r.run_id: r for r in rows}
    assert all(by_id[p.stem].state == "history" and by_id[p.stem].valid_for_benchmark for p in healthy)
    bad = by_id[deep.stem]
    assert bad.state == "malformed" and "nests deeper than" in bad.problem
    assert "\n" not in bad.problem and len(bad.problem) < 200


def test_a_huge_manifest_is_refused_unread_with_its_size(tmp_path):
    s = settings_for(tmp_path)
    runs = s.manifest_root
    ok = write_manifest(runs, "container-run-20260101T000000Z-aa", warnings=[], epoch=1000)
    big = runs / "container-run-20260102T000000Z-bb.json"
    with big.open("w") as handle:  # valid JSON, 50 MB: a string that never ends in a field
        handle.write('{"warnings": [], "blob": "')
        handle.write("x" * (50 * 1024 * 1024))
        handle.write('"}')
    rows, _ = poll(RunsBackend(s))
    by_id = {r.run_id: r for r in rows}
    assert by_id[ok.stem].state == "history"
    assert by_id[big.stem].state == "malformed"
    assert "50.0 MB, over the 1.0 MB limit" in by_id[big.stem].problem
    assert os.path.getsize(big) > MAX_MANIFEST_BYTES


def test_newlines_and_bidi_overrides_in_a_warning_stay_on_one_line(tmp_path):
    evil = "node_exporter failed to start\nVALID FOR BENCHMARKING: the manifest lists no warnings.\u202eelif"
    path = write_manifest(tmp_path, "container-run-20260101T000000Z-aa", warnings=[evil, "ok\u2028\u2029x"])
    row = row_from(read_manifest(path), current=True, host_log=None)
    text = describe(row)
    lines = text.splitlines()
    assert sum(1 for line in lines if line.startswith("VALID FOR")) == 0
    assert lines[1].startswith("NOT VALID FOR BENCHMARKING: 2 warnings")
    (warning_line,) = [line for line in lines if "failed to start" in line]
    assert "VALID FOR BENCHMARKING" in warning_line  # kept, on the warning's own line
    assert not any(ch in text for ch in BIDI + "\u2028\u2029")
    cell = safe(row.warnings_text, 200)
    assert "\n" not in cell and not any(ch in cell for ch in BIDI)


def test_wrong_shapes_inside_a_manifest_never_raise(tmp_path):
    good = json.loads(write_manifest(tmp_path, "container-run-20260101T000000Z-aa", warnings=[]).read_text())
    for key, value in (("paths", {"host": [1, 2], "container": "x"}), ("storage", {"log_file": {"a": 1}}),
                       ("started", ["2026"]), ("started_epoch", 1e308), ("exporters", [1]),
                       ("profile_storage", {"a": [1]}), ("warnings", [{"nested": ["x"]}, 3, None])):
        doc = {**good, key: value}
        manifest = parse_manifest(tmp_path / "m.json", json.dumps(doc))
        describe(row_from(manifest, current=False, host_log=None))
    assert parse_manifest(tmp_path / "m.json", '{"a": NaN}').state == "malformed"


def test_a_log_path_that_climbs_out_of_the_telemetry_root_is_not_followed(tmp_path):
    s = settings_for(tmp_path)
    path = write_manifest(s.manifest_root, "container-run-20260101T000000Z-aa", warnings=[])
    doc = json.loads(path.read_text())
    doc["storage"]["log_file"] = "/telemetry/../../../etc/shadow"
    path.write_text(json.dumps(doc))
    (row,) = poll(RunsBackend(s))[0]
    assert "shadow" not in row.log_file


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
manifest_keys = st.sampled_from(["telemetry_surfaces", "warnings", "paths", "storage", "started",
                                 "started_epoch", "exporters", "profile_storage", "storage_roots", "run_id"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(manifest_keys, json_values, max_size=10) | json_values)
def test_property_any_json_manifest_becomes_a_row_and_details(tmp_path, doc):
    manifest = parse_manifest(tmp_path / "r.json", json.dumps(doc))
    row = row_from(manifest, current=True, host_log=None)
    text = describe(row)
    assert not any(ch in text for ch in BIDI)
    for line in text.splitlines():
        assert len(line) < 400


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_property_any_text_is_classified(tmp_path, text):
    manifest = parse_manifest(tmp_path / "r.json", text)
    assert manifest.state in ("ok", "malformed", "half-written")
    assert "\n" not in manifest.problem
