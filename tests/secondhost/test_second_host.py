"""A second host for real (issue 15, part 6, first step): a network namespace with its own
address on a private /30 that only this test creates (a veth pair; traffic only between
this machine and the namespace), running its own sshd. servedeck's SSH pool reaches it
as a host that is not the local one, and sees it drop off when the veth goes down and
come back when it is up again. Skips with the reason when `ip netns add` is refused."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from servedeck.backends.base import BackendError
from servedeck.backends.ssh.pool import SSHPool
from servedeck.config.model import SSHHost
from support import PORT_OFFSET

NS = f"sd{PORT_OFFSET}ns"
VETH_HOST, VETH_NS = f"sd{PORT_OFFSET}h", f"sd{PORT_OFFSET}n"
NET = f"10.233.{PORT_OFFSET % 250}"  # a /30: .1 here, .2 in the namespace
HOST_ADDR, NS_ADDR = f"{NET}.1", f"{NET}.2"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


@pytest.fixture
def second_host(tmp_path):
    if shutil.which("ip") is None or shutil.which("ssh-keygen") is None or not Path("/usr/sbin/sshd").exists():
        pytest.skip("needs iproute2, ssh-keygen and sshd")
    _ip("netns", "del", NS, check=False)  # a leftover of an interrupted run of this test
    _ip("link", "del", VETH_HOST, check=False)
    added = _ip("netns", "add", NS, check=False)
    if added.returncode != 0:
        pytest.skip(f"`ip netns add` is not permitted here: {added.stderr.strip()}")
    sshd = None
    try:
        _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        _ip("link", "set", VETH_NS, "netns", NS)
        _ip("addr", "add", f"{HOST_ADDR}/30", "dev", VETH_HOST)
        _ip("link", "set", VETH_HOST, "up")
        _ip("netns", "exec", NS, "ip", "addr", "add", f"{NS_ADDR}/30", "dev", VETH_NS)
        _ip("netns", "exec", NS, "ip", "link", "set", VETH_NS, "up")
        _ip("netns", "exec", NS, "ip", "link", "set", "lo", "up")
        d = tmp_path / "ssh"
        d.mkdir(mode=0o700)
        for key in ("host", "user"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True, timeout=30)
        (d / "authorized_keys").write_text((d / "user.pub").read_text())
        host_pub = " ".join((d / "host.pub").read_text().split()[:2])
        (d / "known_hosts").write_text(f"{NS_ADDR} {host_pub}\n")
        (d / "sshd_config").write_text("\n".join([
            "Port 22", f"ListenAddress {NS_ADDR}", f"HostKey {d / 'host'}", f"PidFile {d / 'sshd.pid'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}", "StrictModes no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin prohibit-password"]) + "\n")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        sshd = subprocess.Popen(["ip", "netns", "exec", NS, "/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                                stdout=subprocess.DEVNULL, stderr=open(tmp_path / "sshd.log", "wb"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection((NS_ADDR, 22), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail(f"sshd in {NS} did not listen: {(tmp_path / 'sshd.log').read_text()}")
        yield SSHHost(hostname=NS_ADDR, port=22, user=getpass.getuser(), key_file=str(d / "user"),
                      known_hosts=str(d / "known_hosts"), connect_timeout_s=3, keepalive_s=1)
    finally:
        if sshd is not None:
            sshd.terminate()
            sshd.wait(10)
        _ip("link", "del", VETH_HOST, check=False)
        _ip("netns", "del", NS, check=False)


def test_a_host_in_its_own_namespace_is_reached_and_seen_dropping_off(second_host):
    pool = SSHPool({"far": second_host})
    try:
        result = pool.run("far", ["ip", "-4", "-o", "addr", "show"], timeout=10)
        assert result.rc == 0, result.stderr
        assert NS_ADDR in result.stdout  # the command ran on the other host's network stack
        here = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
        assert NS_ADDR not in here and HOST_ADDR in here

        _ip("link", "set", VETH_HOST, "down")  # the host drops off the network
        pool.drop("far")
        with pytest.raises(BackendError) as info:
            pool.run("far", ["true"], timeout=5)
        assert NS_ADDR in info.value.message and "\n" not in info.value.message

        _ip("link", "set", VETH_HOST, "up")  # and comes back: the pool reconnects by itself
        deadline = time.monotonic() + 30
        while True:
            try:
                assert pool.run("far", ["true"], timeout=5).rc == 0
                break
            except BackendError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        pool.close()
