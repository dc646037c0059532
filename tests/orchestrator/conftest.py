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
from servedeck.lab.manager import down
from servedeck.lab.services.base import Context
from servedeck.lab.services.slurm import start_slurm
from servedeck.lab.state import LabInfo
from support import lab_ports

OWN_SLURM_SHIFT = 27  # inside this run's port range, clear of its lab (0) and the fault lab (18)


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


@pytest.fixture
def own_slurm(tmp_path_factory) -> Iterator[str]:
    """A SLURM of this test alone (munge, slurmctld, slurmd: its own single node), for a
    test that takes its node down: the session lab's node runs the lab's worker jobs,
    which a DOWN node kills and requeues. Yields its SLURM_CONF; ask for it before `orch`
    (`def test(own_slurm, orch)`) so it outlives the orchestrator's clean-up."""
    d = tmp_path_factory.mktemp("own-slurm")
    info = LabInfo(dir=d)
    info.save()
    ctx = Context(dir=d, ports=lab_ports().shifted(OWN_SLURM_SHIFT), info=info, log=lambda _: None)
    try:
        wait = start_slurm(ctx)
        assert wait is not None and info.service("slurmctld") is not None and not info.service("slurmctld").reused, \
            "a SLURM controller already answers without SLURM_CONF: the test cannot have its own"
        wait()
        yield str(info.slurm_conf)
    finally:
        down(d, log=lambda _: None)
