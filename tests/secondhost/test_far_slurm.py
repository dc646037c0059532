"""SLURM over SSH to a host that is not this one: the namespace host runs its own
controller and node on its own loopback (partition `far`); the slurm backend configured
with `ssh: far` lists its jobs, shows its nodes and cancels a job there."""

from __future__ import annotations

import pytest

from servedeck.backends.base import BackendContext
from servedeck.backends.slurm.backend import SlurmBackend, SlurmSettings
from ssh_support import until

pytestmark = pytest.mark.integration


def submit(far, name: str) -> str:
    done = far.slurm("sbatch", "--parsable", "--job-name", name, "--output", f"{far.root}/job-%j.out",
                     "--chdir", str(far.root), "--wrap", "sleep 300")
    return done.stdout.strip().split(";")[0]


def test_jobs_of_the_far_cluster_are_listed_and_cancelled_through_ssh(far, far_pool):
    job = submit(far, "far-job")
    b = SlurmBackend(SlurmSettings(name="far-slurm", ssh="far", timeout=10), BackendContext(extras={"ssh": far_pool}))
    try:
        def running():
            """the job is listed running on the far cluster"""
            rows = b.poll(frozenset({"jobs"}))["jobs"]
            return next((r for r in rows if r.job_id == job and r.state == "RUNNING"), None)
        row = until(running)
        assert row.name == "far-job" and row.partition == "far" and row.cluster == "far-slurm"

        nodes = b.perform("job.nodes", None)
        assert nodes.ok and " far" in nodes.follow_up.text  # sinfo ran there: the far partition

        cancelled = b.perform("job.cancel", row)
        assert cancelled.ok, cancelled.message
        until(lambda: job not in far.slurm("squeue", "-h", "-o", "%i").stdout.split())
        assert all(r.job_id != job or r.state != "RUNNING" for r in b.poll(frozenset({"jobs"}))["jobs"])
    finally:
        far.cancel_jobs()
        b.close()
