"""Snapshot of the sllm models pane over a recorded head. Update deliberately with
`pytest --snapshot-update`; on failure snapshot_report.html shows the difference."""

from __future__ import annotations

from test_sllm_units import RecordedHead
from servedeck.app.main_app import ServedeckApp
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import BackendRunner
from servedeck.backends.sllm.backend import SllmBackend, SllmSettings
from servedeck.config import load_text
from shell_support import wait_for

SIZE = (160, 20)
NOW = 1796162767.0


def test_sllm_models_pane(snap_compare):
    """Two models: one active with 1/1 replicas, min 0, max 2 and its endpoint; one
    `deleting` in yellow; the footer offers a (register), x (delete), t (test request)."""
    backend = SllmBackend(SllmSettings(name="lab-sllm", url="http://sllm.test", interval=3600),
                          transport=RecordedHead().transport)
    app = ServedeckApp(load_text("ui: {start_pane: sllm_models}\n", "test.yaml"),
                       fleet=Fleet([BackendRunner(backend, clock=lambda: NOW)]), clock=lambda: NOW)

    async def ready(pilot):
        await wait_for(pilot, lambda: app._table("sllm_models").row_count == 2)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
