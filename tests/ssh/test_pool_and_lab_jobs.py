"""The SSH layer's jump host and reconnect backoff, and the lab's workers run as SLURM jobs."""

from __future__ import annotations

import socket

import pytest

from servedeck.backends.base import BackendError
from servedeck.backends.ssh.pool import SSHPool
from servedeck.backends.router.match import match_worker
from servedeck.lab.ports import is_free
from servedeck.lab.services.base import Context, LabPorts
from servedeck.lab.services.fleet import start_workers
from servedeck.lab.state import LabInfo, ServiceRecord
from support import PORT_OFFSET
from ssh_support import ssh_host

pytestmark = pytest.mark.integration


def test_proxy_jump_runs_commands_through_the_jump_host(lab):
    host = ssh_host(lab.ssh)
    pool = SSHPool({"jump": host, "inner": host.model_copy(update={"proxy_jump": "jump"})})
    try:
        result = pool.run("inner", ["printf", "%s", "via jump ü;$(x)"], timeout=10)
        assert (result.rc, result.stdout) == (0, "via jump ü;$(x)")
        assert pool.client("jump") is not None and pool.client("inner") is not pool.client("jump")
    finally:
        pool.close()


def test_a_down_host_is_retried_with_backoff_not_hammered():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from servedeck.config.model import SSHHost

    pool = SSHPool({"gone": SSHHost(hostname="127.0.0.1", port=port, connect_timeout_s=2)})
    with pytest.raises(BackendError) as first:
        pool.run("gone", ["true"], timeout=5)
    assert "refused the connection" in first.value.message
    with pytest.raises(BackendError) as again:  # within the backoff: no new attempt, same story
        pool.run("gone", ["true"], timeout=5)
    assert again.value.message == first.value.message and "next reconnect attempt" in again.value.hint


def test_a_host_that_is_back_skips_the_rest_of_its_backoff():
    """Within the backoff, a host whose SSH port accepts connections again is tried at
    once (the fault matrix's sshd entry needs it back within 5 s, not 30)."""
    from servedeck.config.model import SSHHost

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    pool = SSHPool({"back": SSHHost(hostname="127.0.0.1", port=port, connect_timeout_s=1)})
    try:
        with pytest.raises(BackendError) as first:
            pool.run("back", ["true"], timeout=5)
        assert "refused the connection" in first.value.message
        listener.listen()  # something answers on the port now (it never sends a banner)
        with pytest.raises(BackendError) as again:
            pool.run("back", ["true"], timeout=5)
        assert again.value.message != first.value.message  # a new attempt, not the backoff's story
    finally:
        listener.close()
        pool.close()


def test_lab_workers_as_slurm_jobs_keep_their_ports_and_match_their_jobs(lab, pool, slurm, tmp_path):
    base = next(p for p in range(36300 + PORT_OFFSET // 10, 36400 + PORT_OFFSET // 10) if is_free(p) and is_free(p + 1))
    info = LabInfo(dir=tmp_path, slurm=True, slurm_conf=lab.slurm_conf)
    info.services.append(ServiceRecord(name="slurmctld", reused=True))  # the session lab's controller
    ctx = Context(dir=tmp_path, ports=LabPorts(worker_base=base), info=info, log=lambda _: None, workers=2)
    wait = start_workers(ctx, via_slurm=True)
    try:
        wait()
        assert info.worker_urls == [f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}"]
        assert all(s.pid for s in info.services if s.name.startswith("worker-"))  # found by port, stoppable by pid
        jobs = slurm.poll(frozenset({"jobs"}))["jobs"]
        mine = {j.port: j for j in jobs if j.name.startswith("sglang-worker-") and j.state == "RUNNING"}
        for i, url in enumerate(info.worker_urls):
            matched = match_worker(url, jobs).job
            assert matched is not None and matched.job_id == mine[base + i].job_id
    finally:
        ids = [j.job_id for j in slurm.poll(frozenset({"jobs"}))["jobs"] if j.port in (base, base + 1)]
        if ids:
            pool.run("lab", ["scancel", *ids], timeout=30)
