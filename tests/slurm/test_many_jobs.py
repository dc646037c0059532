"""squeue --json with hundreds of jobs (about 1 MB) read over SSH, polled again and again:
every poll parses and sees every job (a short read used to fail 14 of 30 such polls)."""

from __future__ import annotations

import uuid

import pytest

from servedeck.backends.base import Health
from servedeck.backends.runner import BackendRunner

pytestmark = pytest.mark.integration

JOBS = 300


def test_hundreds_of_jobs_polled_repeatedly_over_ssh(pool, slurm):
    name = f"sd-many-{uuid.uuid4().hex[:6]}"
    submit = pool.run("lab", ["sh", "-c", f'for i in $(seq {JOBS}); do sbatch --hold --parsable --job-name "$0" '
                                          f'--output /dev/null --wrap "sleep 1" || exit 1; done', name], timeout=240)
    assert submit.rc == 0, submit.stderr[-300:]
    try:
        raw = pool.run("lab", ["squeue", "--json"], timeout=60)
        assert len(raw.stdout) > 500_000  # large enough to cross many SSH windows
        runner = BackendRunner(slurm)
        for _ in range(30):
            snap = runner.poll_once(frozenset({"jobs"}))
            assert snap.state.health is Health.OK, snap.state.message
            assert sum(1 for row in snap.panes["jobs"] if row.name == name) == JOBS
        assert slurm._json_ok is True  # still reading JSON, never switched to text
    finally:
        pool.run("lab", ["scancel", "--name", name], timeout=60)
