"""The SLURM backend against the lab's real SLURM, locally and over its sshd."""

from __future__ import annotations

from functools import partial

import pytest
import ssh_support
from servedeck.backends.base import BackendContext, Health
from servedeck.backends.runner import BackendRunner
from servedeck.backends.slurm.backend import SlurmBackend, SlurmSettings
from servedeck.backends.ssh.pool import SSHPool

pytestmark = pytest.mark.integration

until = partial(ssh_support.until, tries=60, pause=0.5)  # up to 30 s

NASTY = "sd;echo pwned $(id) `x` 'q\" |&>"


def _submit(pool: SSHPool, name: str) -> str:
    result = pool.run("lab", ["sbatch", "--parsable", "--job-name", name, "--output", "/dev/null", "--wrap", "sleep 300"], timeout=30)
    assert result.rc == 0, result.stderr
    return result.stdout.strip().split(";")[0]




@pytest.mark.parametrize("force_text", [False, True], ids=["json", "text-fallback"])
def test_slurm_jobs_over_ssh_and_cancel(lab, ssh_pool, force_text):
    backend = SlurmBackend(SlurmSettings(name="lab-slurm", ssh="lab"), BackendContext(extras={"ssh": ssh_pool}))
    if force_text:
        backend._json_ok = False  # as after squeue said it cannot print JSON
    runner = BackendRunner(backend)
    assert runner.poll_once(frozenset()).state.health is Health.OK
    job_id = _submit(ssh_pool, NASTY)

    def job():
        """the submitted job is listed"""
        snap = runner.poll_once(frozenset({"jobs"}))
        assert snap.state.health is Health.OK, snap.state
        return next((r for r in snap.panes["jobs"] if r.job_id == job_id), None)

    row = until(job)
    assert row.name == NASTY and row.cluster == "lab-slurm"
    assert row.state in ("PENDING", "RUNNING", "CONFIGURING")
    result = runner.perform("job.cancel", row, readonly=False)
    assert result.ok, result.message

    def gone():
        """the job left the queue or shows as cancelled"""
        r = job()
        return r is None or r.state in ("CANCELLED", "COMPLETING")

    until(gone)


def test_slurm_locally(lab, monkeypatch):
    if lab.slurm_conf:
        monkeypatch.setenv("SLURM_CONF", lab.slurm_conf)
    runner = BackendRunner(SlurmBackend(SlurmSettings(name="here")))
    assert runner.poll_once(frozenset()).state.health is Health.OK
    snap = runner.poll_once(frozenset({"jobs"}))
    assert snap.state.health is Health.OK and "jobs" in snap.panes


def test_slurm_cancel_refuses_non_ids(lab, ssh_pool):
    backend = SlurmBackend(SlurmSettings(name="s", ssh="lab"), BackendContext(extras={"ssh": ssh_pool}))
    row = type("Row", (), {"job_id": "1; rm -rf /", "name": ""})()
    assert backend.perform("job.cancel", row).ok is False

