"""The container-runs pane driven with keys: rows from manifest files, the details panel
explaining warnings, the bench-valid indicator, and the viewer from `d`."""

from __future__ import annotations

import asyncio


from helper_support import write_manifest
from servedeck.app.main_app import ServedeckApp
from servedeck.app.screens import ConfirmScreen, TextScreen
from servedeck.config import load_text

SIZE = (160, 44)


async def wait_for(pilot, predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await pilot.pause(0.05)


def make_app(tmp_path, *, readonly: bool = False):
    runs = tmp_path / "telemetry" / "container_runs"
    cur = write_manifest(runs, "container-run-20260102T000000Z-bb", epoch=2000,
                         warnings=["node_exporter failed to start", "a warning nobody documented"])
    write_manifest(runs, "container-run-20260101T000000Z-aa", epoch=1000, warnings=[])
    (runs / "container-run-20260103T000000Z-cc.json").write_text('{"run_id": ')  # being written
    (tmp_path / "telemetry" / "container_run_meta.env").write_text(f"CONTAINER_RUN_META_JSON_HOST={cur}\n")
    config = (f"ui: {{start_pane: container_runs}}\nbackends:\n  runs:\n    - name: lab-runs\n"
              f"      storage_root: {tmp_path}\n      interval: 0.2\n"
              "      docker_url: unix:///nonexistent/docker.sock\n")  # files only: the pane works without Docker
    return ServedeckApp(load_text(config, "test.yaml"), readonly=readonly)


async def test_rows_details_and_viewer(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        body = app.query_one("#table-container_runs")
        await wait_for(pilot, lambda: body.total_count == 3)
        table = body.table
        assert app.focused is table
        first = body.selected()[1]
        assert first.run_id == "container-run-20260102T000000Z-bb" and first.state == "current"
        details = body.details
        assert "NOT VALID FOR BENCHMARKING: 2 warnings" in details
        assert "UNKNOWN: a warning nobody documented" in details
        assert "No host metrics" in details  # the taxonomy's explanation of node_exporter
        await pilot.press("down")  # the half-written newest file, then the older valid run
        await wait_for(pilot, lambda: "Manifest half-written" in body.details)  # the panel follows
        await pilot.press("down")
        await wait_for(pilot, lambda: "VALID FOR BENCHMARKING: the manifest lists no warnings." in body.details)
        states = sorted(row.state for _, row in body.table._rows.values())
        assert states == ["current", "half-written", "history"]
        ids = [e.binding_id for e in app.help_entries()]
        assert len(ids) == len(set(ids)) and "container_runs.helper.stop" in ids
        await pilot.press("S")  # replacing the helper container asks first
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))


async def test_filter_and_readonly_refusal(tmp_path):
    app = make_app(tmp_path, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        body = app.query_one("#table-container_runs")
        await wait_for(pilot, lambda: body.total_count == 3)
        body.set_filter("half")
        assert body.shown_count == 1 and "half-written" in body.details
        body.set_filter("")
        entries = {e.binding_id: e for e in app.help_entries()}
        assert entries["container_runs.helper.start"].why_disabled == "read-only"
        assert entries["container_runs.serve.start"].why_disabled == "read-only"
        assert entries["container_runs.run.details"].enabled  # reading stays allowed
        await pilot.press("S")  # start the helper: a mutation, refused read-only
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)


async def test_a_new_current_run_takes_the_first_row(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        body = app.query_one("#table-container_runs")
        await wait_for(pilot, lambda: body.total_count == 3)
        newest = write_manifest(tmp_path / "telemetry" / "container_runs", "container-run-20260105T000000Z-ee",
                                epoch=3000, warnings=[])
        (tmp_path / "telemetry" / "container_run_meta.env").write_text(f"CONTAINER_RUN_META_JSON_HOST={newest}\n")
        # The manifest and the meta file are two writes: a poll between them sees the new
        # run as history. Wait until a poll has seen both, then check where it sits.
        new_key = f"lab-runs\x1f{newest.stem}"

        def new_run_is_current() -> bool:
            row = body.table._rows.get(new_key)
            return row is not None and row[1].state == "current"

        await wait_for(pilot, new_run_is_current)
        assert body.total_count == 4
        first_key = body.table.ordered_rows[0].key.value
        assert first_key == new_key
