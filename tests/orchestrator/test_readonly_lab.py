"""`servedeck --readonly orchestrate run` and `readonly: true` in the config: the
orchestrator watches the lab's real SLURM and router, says what it would do, and submits,
registers and cancels nothing; control commands that change something are refused."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from orch_support import PY, until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("how", ["--readonly", "readonly: true"])
def test_readonly_orchestrator_submits_and_registers_nothing(orch, how):
    path = orch.write_config(replicas=1)
    argv = [PY, "-m", "servedeck"]
    if how == "--readonly":
        argv.append("--readonly")
    else:
        doc = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump({"readonly": True, **doc}, sort_keys=False))
    log = open(orch.dir / "orchestrator.log", "ab")
    proc = subprocess.Popen([*argv, "orchestrate", "run", "--config", str(path), "--log-level", "DEBUG"],
                            stdout=log, stderr=subprocess.STDOUT, env=orch.env(), start_new_session=True)
    orch.procs.append(proc)

    def said_it_would_submit():
        return [e for e in orch.logs() if e.get("event") == "readonly_skipped" and "submit" in e.get("msg", "")]
    until(said_it_would_submit, 60, what="the read-only orchestrator logs the submission it skips")
    until(lambda: orch.status()["workers"] == [], 10, what="status answers")  # passes have run
    assert orch.jobs(active_only=False) == []
    assert orch.router_urls() == []
    refused = orch.command(cmd="scale", replicas=3)
    assert refused["ok"] is False and "read-only" in refused["message"]
    assert proc.poll() is None  # still watching
