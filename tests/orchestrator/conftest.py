"""Fixtures for the orchestrator's integration tests: the lab's real SLURM, a real router
per test, and the orchestrator run as a real process (`servedeck orchestrate run`).

Each test gets its own router, job-name prefix, state dir and worker port range, so tests
never see each other's workers. Everything started here is stopped by pid; every job of
the test's prefix is cancelled at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Iterator

import pytest

from orch_support import BASE, Orch, slots, start_router


@pytest.fixture
def orch(lab, tmp_path) -> Iterator[Orch]:
    if not lab.slurm_conf:
        pytest.fail("the lab has no SLURM of its own", pytrace=False)
    slot = next(slots)
    router_port = BASE + 2 * slot
    lo = BASE + 100 + 50 * slot
    o = Orch(dir=tmp_path, slurm_env={"SLURM_CONF": lab.slurm_conf}, router_port=router_port,
             worker_ports=(lo, lo + 49), prefix=f"sdt{os.getpid() % 1000}x{slot}-")
    (tmp_path / "logs").mkdir()
    router = start_router(router_port, tmp_path / "router.log")
    try:
        yield o
    finally:
        o.stop()
        for job in o.jobs():
            subprocess.run(["scancel", job["id"]], env=o.env(), capture_output=True, timeout=30)
        for proc in (router,):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
