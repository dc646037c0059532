"""Snapshot of the Pylet instances pane over a recorded head. Update deliberately with
`pytest --snapshot-update`; on failure snapshot_report.html shows the difference."""

from __future__ import annotations

from pylet_recorded import NOW, RecordedPylet
from servedeck.app.main_app import ServedeckApp
from servedeck.backends.fleet import Fleet
from servedeck.backends.pylet.backend import PyletBackend, PyletSettings
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text
from shell_support import wait_for

SIZE = (160, 20)


def test_pylet_instances_pane(snap_compare):
    """Five instances newest first: RUNNING in green, the sllm-store CANCELLING and the
    queued one PENDING in yellow, FAILED (exit 1, its failure reason) and UNKNOWN (its worker
    went offline) in red; time in state, worker, GPUs, endpoint and labels; the header says
    the backend is degraded because a worker is OFFLINE; the footer has c/x/l/w/m."""
    backend = PyletBackend(PyletSettings(name="lab-pylet", url="http://pylet.test", interval=3600),
                           transport=RecordedPylet().transport, clock=lambda: NOW)
    app = ServedeckApp(load_text("ui: {start_pane: pylet_instances}\n", "test.yaml"),
                       fleet=Fleet([BackendRunner(backend, clock=lambda: NOW)]), clock=lambda: NOW)

    async def ready(pilot):
        await wait_for(pilot, lambda: app._table("pylet_instances").row_count == 5)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
