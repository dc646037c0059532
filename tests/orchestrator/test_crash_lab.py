"""kill -9 of the orchestrator at several points, then restarts: it converges with no
duplicate jobs and no stale router entries (adoption from SLURM, logs and the router).

SERVEDECK_ORCH_CRASH_AT makes the orchestrator SIGKILL itself at an exact point (after
sbatch but before the job id is saved; after the router accepted a worker but before
that is saved; after deregistering but before cancelling); one more kill -9 comes from
outside at an arbitrary moment.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from orch_support import until

pytestmark = pytest.mark.integration


def _crashed(proc: subprocess.Popen) -> bool:
    try:
        return proc.wait(timeout=90) == -signal.SIGKILL
    except subprocess.TimeoutExpired:
        return False


def _state(orch) -> dict:
    return json.loads((orch.state_dir / "state.json").read_text())["deployments"]["dep"]


def test_kill9_at_submit_register_drain_then_converges(orch):
    orch.write_config(replicas=2)

    # 1. Killed right after sbatch: the job exists, the state only has the intent.
    assert _crashed(orch.start(SERVEDECK_ORCH_CRASH_AT="submit"))
    jobs = orch.jobs(active_only=False)
    assert len(jobs) == 1
    (record,) = _state(orch)["workers"].values()
    assert record["phase"] == "submitting" and record["job_id"] == ""
    assert f"iid={record['instance_id']}" in jobs[0]["comment"]

    # 2. Restart, killed while registering: the first job is adopted, not submitted again.
    assert _crashed(orch.start(SERVEDECK_ORCH_CRASH_AT="register"))
    jobs = orch.jobs(active_only=False)
    assert len(jobs) == 2, jobs
    first_job = next(j["id"] for j in jobs if f"iid={record['instance_id']};" in j["comment"])
    assert _state(orch)["workers"][record["instance_id"]]["job_id"] == first_job
    registered = until(orch.router_urls, 30, what="the router got the worker before the crash")
    assert not any(w["registered"] for w in _state(orch)["workers"].values())

    # 3. Restart clean: both workers ready and registered; then an outside kill -9.
    proc = orch.start()
    urls = until(orch.ready_urls, 90, what="2 ready workers after the register crash")
    assert set(registered) <= set(urls)
    assert len(orch.jobs(active_only=False)) == 2  # nothing was submitted twice
    orch.kill9(proc)

    # 4. Restart, scale down to 1, killed between deregistering and cancelling.
    proc = orch.start(SERVEDECK_ORCH_CRASH_AT="drain")
    until(orch.ready_urls, 90, what="2 adopted workers ready")
    assert orch.command(cmd="scale", replicas=1)["ok"]
    assert _crashed(proc)
    assert len(until(lambda: len(orch.router_urls()) == 1 and orch.router_urls(), 30)) == 1

    # 5. Restart clean: converges to 1 with the drained job cancelled, nothing new submitted.
    orch.start()
    final = until(orch.ready_urls, 90, what="1 ready worker after the drain crash")
    until(lambda: len(orch.jobs()) == 1, 60, what="the drained job cancelled")
    assert orch.router_urls() == final
    all_jobs = orch.jobs(active_only=False)
    assert len(all_jobs) == 2, all_jobs  # two workers ever submitted: no duplicate
    comments = [j["comment"] for j in all_jobs]
    assert len(set(comments)) == len(comments)


def test_restart_adopts_from_slurm_and_router_when_state_is_lost(orch):
    """The state file is gone (new machine, wiped dir): SLURM markers, READY lines and the
    router list rebuild the picture; a router entry pointing at nothing is removed."""
    orch.write_config(replicas=1)
    proc = orch.start()
    first = until(orch.ready_urls, 90, what="1 ready worker")
    job_id = orch.status()["workers"][0]["job_id"]
    orch.kill9(proc)
    (orch.state_dir / "state.json").unlink()
    # A stale entry: a worker of ours that died while nobody watched (port in our range).
    lo = orch.worker_ports[0]
    stale = subprocess.Popen([orch.deployment["sglang"]["command"][0], "-m", "servedeck.lab.standin_sglang",
                              "--host", "127.0.0.1", "--port", str(lo + 40)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        until(lambda: _answers(f"http://127.0.0.1:{lo + 40}/health"), 30, what="stale stand-in up")
        req = urllib.request.Request(f"{orch.router_url}/workers", method="POST",
                                     data=json.dumps({"url": f"http://127.0.0.1:{lo + 40}"}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        until(lambda: len(orch.router_urls()) == 2, 30, what="router lists the stale entry")
    finally:
        stale.terminate()
        stale.wait(timeout=10)

    dry = orch.cli("adopt", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"adopted job {job_id}" in dry.stdout and "would remove stale" in dry.stdout
    assert not (orch.state_dir / "state.json").exists()  # a dry run changes nothing

    orch.start()
    final = until(orch.ready_urls, 60, what="the running worker adopted")
    assert final == first and orch.status()["workers"][0]["job_id"] == job_id
    until(lambda: orch.router_urls() == final, 30, what="stale router entry removed")
    assert len(orch.jobs(active_only=False)) == 1  # adopted, never resubmitted


def _answers(url: str) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=1).read()
        return True
    except OSError:
        return False
