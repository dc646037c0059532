"""A Pylet worker killed (SIGKILL, no unregister): its instances become UNKNOWN and the
worker OFFLINE, in the verbs and in the panes; Pylet's refusal to delete an offline worker
that still has instances is one line. Then a new worker replaces it (the stack is shared)."""

from __future__ import annotations

import os
import signal

import pytest

from servedeck.app.main_app import ServedeckApp
from servedeck.config import load_config
from servedeck.lab.services.serverlessllm import replace_worker
from serverless_support import instance, servedeck, submit, until, url_of, verb_json
from shell_support import wait_for

pytestmark = pytest.mark.integration


async def test_killed_worker_goes_offline_and_its_instances_unknown(stack):
    pylet = url_of(stack, "pylet-head")
    iid = submit(pylet, "sleep 300", name="doomed")
    until(lambda: instance(pylet, iid)["status"] == "RUNNING", what="instance RUNNING")
    worker = stack.service("pylet-worker")
    assert worker is not None and worker.pid
    app = ServedeckApp(load_config(str(stack.config_path)))
    async with app.run_test(size=(160, 40)) as pilot:
        app.show_pane("pylet_instances")
        table = app._table("pylet_instances")
        await wait_for(pilot, lambda: any(r.id == iid and r.status == "RUNNING"
                                          for _, r in table._rows.values()), timeout=20)
        os.kill(worker.pid, signal.SIGKILL)
        await wait_for(pilot, lambda: any(r.id == iid and r.status == "UNKNOWN"
                                          for _, r in table._rows.values()), timeout=40)
        app.show_pane("pylet_workers")
        workers = app._table("pylet_workers")
        await wait_for(pilot, lambda: [r.status for _, r in workers._rows.values()] == ["OFFLINE"], timeout=20)
        state = app.fleet.by_name("lab-pylet").snapshot.state
        assert state.health.value == "degraded" and "not online" in state.message

    rows = verb_json(stack, "pylet", "workers")
    assert [w["status"] for w in rows] == ["OFFLINE"]
    worker_id = rows[0]["id"]
    refused = servedeck(stack, "pylet", "delete-worker", worker_id, "--yes")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"pylet refused to delete worker {worker_id[:8]}: it still has instances (delete or cancel them first)"]
    for row in verb_json(stack, "pylet", "instances"):
        assert row["status"] == "UNKNOWN" or row["state"] in ("COMPLETED", "FAILED", "CANCELLED")
        assert servedeck(stack, "pylet", "delete", row["id"], "--yes").returncode == 0
    deleted = servedeck(stack, "pylet", "delete-worker", worker_id[:8], "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert verb_json(stack, "pylet", "workers") == []
    replace_worker(stack, log=lambda _: None)
    assert [w["status"] for w in verb_json(stack, "pylet", "workers")] == ["ONLINE"]
