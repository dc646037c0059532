"""The cockpit's side: the orchestrator backend and the deployments pane attached to a
running orchestrator (real SLURM, real router), sending control commands."""

from __future__ import annotations

import asyncio
import json

import pytest

from orch_support import until
from servedeck.backends.base import ShowText
from servedeck.backends.orchestrator.backend import OrchestratorBackend, OrchestratorSettings

pytestmark = pytest.mark.integration


def _rows(backend):
    return backend.poll(frozenset({"deployments"}))["deployments"]


async def test_backend_and_pane_show_state_and_send_commands(orch):
    orch.write_config(replicas=1)
    orch.start()
    until(orch.ready_urls, 90, what="1 ready worker")
    backend = OrchestratorBackend(OrchestratorSettings(name="orch", config=str(orch.config_path)))
    summary, worker = _rows(backend)
    assert (summary.deployment, summary.desired, summary.ready, summary.unhealthy) == ("dep", 1, 1, 0)
    job = orch.jobs()[0]["id"]
    assert (worker.job_id, worker.phase, worker.registered) == (job, "ready", True)
    assert worker.port in range(*orch.worker_ports) and worker.node and worker.phase_at

    # The pane in the cockpit shows the same rows.
    from servedeck.app.main_app import ServedeckApp
    from servedeck.backends.fleet import Fleet
    from servedeck.backends.runner import BackendRunner
    from servedeck.config import load_text

    app = ServedeckApp(load_text("{}\n", "t.yaml"), fleet=Fleet([BackendRunner(backend)]))
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.press("colon", "d", "p", "enter")
        await pilot.pause(0.2)
        assert app.current_pane == "deployments"
        table = app.query_one("#table-deployments")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while table.row_count < 2 and loop.time() < deadline:
            await pilot.pause(0.1)
        cells = [str(c) for r in range(table.row_count) for c in table.get_row_at(r)]
        assert "dep" in cells and job in cells

    # Commands: scale up, pause/resume, drain a worker, the timeline.
    result = backend.perform("orch.scale_up", summary)
    assert result.ok and "from 1 to 2" in result.message
    until(lambda: len(orch.ready_urls() or []) == 2, 90, what="scaled up to 2")
    assert backend.perform("orch.pause", summary).ok
    assert _rows(backend)[0].phase == "paused"
    assert backend.perform("orch.resume", summary).ok
    drained = backend.perform("orch.drain", worker)
    assert drained.ok and worker.instance in drained.message
    until(lambda: (urls := orch.ready_urls()) and len(urls) == 2 and worker.instance not in
          {r.instance for r in _rows(backend)}, 90, what="drained worker replaced")
    assert job not in {j["id"] for j in orch.jobs()}
    # Restart of the whole deployment: replacements first, never fewer than 2 registered.
    before = {r.instance for r in _rows(backend)[1:]}
    restarted = backend.perform("orch.restart", summary)
    assert restarted.ok and "2 worker(s)" in restarted.message
    counts = []

    def all_new():
        counts.append(len(orch.router_urls()))
        urls = orch.ready_urls()
        return urls and len(urls) == 2 and not before & {r.instance for r in _rows(backend)[1:]}
    until(all_new, 120, pause=0.1, what="every worker replaced")
    assert min(counts) >= 2, counts
    timeline = backend.perform("orch.timeline", summary).follow_up
    assert isinstance(timeline, ShowText) and "drained by the operator" in timeline.text
    bad = backend.perform("orch.scale", summary, value="lots")
    assert not bad.ok and "not a number" in bad.message
    backend.close()

    # `adopt` refuses while an orchestrator runs (it adopts by itself).
    refused = orch.cli("adopt")
    assert refused.returncode == 1 and "already runs" in refused.stderr

    # The CLI's status --json tells the same story.
    done = orch.cli("status", "--json")
    doc = json.loads(done.stdout)
    assert doc["running"] and doc["deployments"][0]["desired"] == 2 and doc["deployments"][0]["ready"] == 2
