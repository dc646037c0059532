"""Shared by the SLURM, router and SSH tests: SSH to the lab, a private sshd a test may
restart, SLURM jobs. Each of those folders' conftest re-exports the fixtures."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from servedeck.backends.base import BackendContext
from servedeck.backends.slurm.backend import SlurmBackend, SlurmSettings
from servedeck.backends.ssh.pool import SSHPool
from servedeck.config.model import SSHHost
from servedeck.lab.procs import stop
from servedeck.lab.services.base import Context, LabPorts
from servedeck.lab.services.sshd import start_sshd
from servedeck.lab.state import LabInfo

from support import PORT_OFFSET


def until(fn: Callable, *, tries: int = 80, pause: float = 0.25):
    """Call fn until it returns something truthy (bounded: a hung service fails the test)."""
    for _ in range(tries):
        value = fn()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"condition never held: {fn.__doc__ or fn}")


def ssh_host(info) -> SSHHost:
    return SSHHost(hostname=info.host, port=info.port, user=info.user, key_file=info.key_file,
                   known_hosts=info.known_hosts, connect_timeout_s=5, keepalive_s=2)


@pytest.fixture
def pool(lab) -> Iterator[SSHPool]:
    p = SSHPool({"lab": ssh_host(lab.ssh)})
    yield p
    p.close()


@pytest.fixture
def slurm(lab, pool) -> Iterator[SlurmBackend]:
    backend = SlurmBackend(SlurmSettings(name="lab-slurm", ssh="lab"), BackendContext(extras={"ssh": pool}))
    yield backend
    backend.close()


class OwnSSHD:
    """An sshd of this test alone (own port from the offset), which the test may restart."""

    def __init__(self, dir: Path):
        self.info = LabInfo(dir=dir)
        self.ctx = Context(dir=dir, ports=LabPorts(sshd=2240 + PORT_OFFSET), info=self.info, log=lambda _: None)

    def start(self) -> None:
        wait = start_sshd(self.ctx, None)
        assert wait is not None, "sshd is not installed"
        wait()

    def stop(self) -> None:
        """Stop the server and every connection it serves (its per-connection children)."""
        for rec in [s for s in self.info.services if s.name == "sshd" and s.pid]:
            for pid in _children_of(rec.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            stop(rec.pid, rec.start_time)
        self.info.services = [s for s in self.info.services if s.name != "sshd"]

    def host(self) -> SSHHost:
        return ssh_host(self.info.ssh)


def _children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.fixture
def own_sshd(tmp_path) -> Iterator[OwnSSHD]:
    server = OwnSSHD(tmp_path / "sshd")
    server.start()
    yield server
    server.stop()


def submit_worker(pool: SSHPool, port: int, out_dir: Path, name: str = "sd-worker") -> str:
    """A stand-in SGLang worker as a SLURM job serving `port` (said in its comment)."""
    command = shlex.join([sys.executable, "-m", "servedeck.lab.standin_sglang", "--host", "127.0.0.1",
                          "--port", str(port), "--model-name", "standin-model"])
    result = pool.run("lab", ["sbatch", "--parsable", "--job-name", name, "--comment", f"port={port}",
                              "--output", str(out_dir / f"{name}-%j.out"), "--wrap", f"exec {command}"], timeout=30)
    assert result.rc == 0, result.stderr
    return result.stdout.strip().split(";")[0]


@pytest.fixture
def lab_ssh_host(lab) -> SSHHost:
    s = lab.ssh
    return SSHHost(hostname=s.host, port=s.port, user=s.user, key_file=s.key_file,
                   known_hosts=s.known_hosts, connect_timeout_s=10)


@pytest.fixture
def ssh_pool(lab_ssh_host) -> Iterator[SSHPool]:
    pool = SSHPool({"lab": lab_ssh_host})
    yield pool
    pool.close()
