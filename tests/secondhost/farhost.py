"""A second host for the tests: a network namespace reached over a veth pair on a private
/30 that only these tests create (.1 here, .2 in the namespace), running its own sshd,
Docker Engine, SLURM (munge, slurmctld, slurmd on the namespace's own loopback) and a
stand-in SGLang worker on the namespace's loopback. Nothing in it listens on any address
of this machine's own network stack, so servedeck reaches it only as an operator reaches
another host: over SSH to the namespace's address.

The namespace shares this machine's filesystem, so its sshd hands its sessions
DOCKER_HOST and SLURM_CONF (sshd_config `SetEnv`) naming the namespace's own engine and
controller; a remote `docker system dial-stdio` or `squeue` there never sees the shared
engine or the lab's controller. `down()`/`up()` set the namespace's end of the veth down and
up again; a guard route keeps the /30 off the default route meanwhile.
Everything is torn down by `stop()`, also after a partial start.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from servedeck.config.model import SSHHost

IMAGE = "sd-far-ticker:1"
TICKER = "far-ticker"
WORKER_PORT = 30000  # inside the namespace: nobody else's port


class Refused(Exception):
    """The sandbox does not allow what the second host needs (said precisely)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


def _wait(what: str, ok: Callable[[], bool], log: Path | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
    raise AssertionError(f"second host: {what} did not happen within {timeout:g}s\n{tail}")


class FarHost:
    def __init__(self, root: Path, offset: int):
        self.root = root
        self.ns = f"sd{offset}ns"
        self.veth_host, self.veth_ns = f"sd{offset}h", f"sd{offset}n"
        net = f"10.233.{offset % 250}"
        self.host_addr, self.addr = f"{net}.1", f"{net}.2"
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.ssh_dir = root / "ssh"
        self.docker_dir = root / "docker"
        self.slurm_dir = root / "slurm"
        self.docker_sock = self.docker_dir / "docker.sock"
        self.slurm_conf = self.slurm_dir / "slurm.conf"
        self.user = "root"

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        for tool in ("ip", "ssh-keygen", "dockerd", "docker", "munged", "slurmctld", "slurmd", "squeue"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise Refused(f"needs {tool} (scripts/setup.sh installs it)")
        self._remove_network()  # a leftover of an interrupted run
        added = _ip("netns", "add", self.ns, check=False)
        if added.returncode != 0:
            raise Refused(f"`ip netns add {self.ns}` is not permitted here: {added.stderr.strip()}")
        self._network()
        self._sshd()
        self._dockerd()
        self._slurm()
        self._worker()
        self._wait_all()

    def stop(self) -> None:
        self.up()  # so a stopping sshd's sessions end cleanly
        self.cancel_jobs()
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for name, proc in reversed(self.procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()
        self._remove_network()

    def down(self) -> None:
        """The host drops off the network: its end of the veth goes down, so packets to it
        vanish without an answer (as when a host loses its link); nothing there stops."""
        _ip("-n", self.ns, "link", "set", self.veth_ns, "down")

    def up(self) -> None:
        _ip("-n", self.ns, "link", "set", self.veth_ns, "up", check=False)

    # -- what servedeck is given ---------------------------------------------------------

    def ssh_host(self, **overrides) -> SSHHost:
        settings = dict(hostname=self.addr, port=22, user=self.user, key_file=str(self.ssh_dir / "user"),
                        known_hosts=str(self.ssh_dir / "known_hosts"), connect_timeout_s=3, keepalive_s=1)
        settings.update(overrides)
        return SSHHost(**settings)

    @property
    def docker_url(self) -> str:
        return f"ssh://{self.user}@{self.addr}"

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """The namespace's engine, driven directly through its socket (setup and checks)."""
        return subprocess.run(["docker", "-H", f"unix://{self.docker_sock}", *args], capture_output=True,
                              text=True, timeout=120, check=check)

    def slurm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """The namespace's controller, asked from inside the namespace."""
        return subprocess.run([*self.inside, *args], capture_output=True, text=True,
                              timeout=30, check=check, env={**os.environ, "SLURM_CONF": str(self.slurm_conf)})

    def cancel_jobs(self) -> None:
        if self.slurm_conf.exists():
            listed = self.slurm("squeue", "-h", "-o", "%i", check=False)
            if listed.returncode == 0 and listed.stdout.split():
                self.slurm("scancel", *listed.stdout.split(), check=False)

    @property
    def inside(self) -> list[str]:
        """Run in the namespace's network only: `ip netns exec` would also remount /sys,
        hiding the cgroup mounts dockerd needs."""
        return ["nsenter", f"--net=/run/netns/{self.ns}", "--"]

    # -- parts --------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Path:
        log = self.root / f"{name}.log"
        proc = subprocess.Popen([*self.inside, *argv], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
                                env={**os.environ, **(env or {})})
        self.procs.append((name, proc))
        return log

    @property
    def net(self) -> str:
        return self.addr.rsplit(".", 1)[0] + ".0/30"

    def _network(self) -> None:
        # Whatever end of the veth is down, nothing for this /30 may leave by the default
        # route: a guard route answers "no route to host" when the veth's own route is gone.
        _ip("route", "add", "unreachable", self.net, "metric", "4242")
        _ip("link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
        _ip("link", "set", self.veth_ns, "netns", self.ns)
        _ip("addr", "add", f"{self.host_addr}/30", "dev", self.veth_host)
        _ip("link", "set", self.veth_host, "up")
        _ip("netns", "exec", self.ns, "ip", "addr", "add", f"{self.addr}/30", "dev", self.veth_ns)
        _ip("netns", "exec", self.ns, "ip", "link", "set", self.veth_ns, "up")
        _ip("netns", "exec", self.ns, "ip", "link", "set", "lo", "up")

    def _remove_network(self) -> None:
        _ip("link", "del", self.veth_host, check=False)
        _ip("netns", "del", self.ns, check=False)
        _ip("route", "del", "unreachable", self.net, "metric", "4242", check=False)

    def _sshd(self) -> None:
        d = self.ssh_dir
        d.mkdir(mode=0o700, parents=True)
        for key in ("host", "user"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True, timeout=30)
        (d / "authorized_keys").write_text((d / "user.pub").read_text())
        host_pub = " ".join((d / "host.pub").read_text().split()[:2])
        (d / "known_hosts").write_text(f"{self.addr} {host_pub}\n")
        (d / "sshd_config").write_text("\n".join([
            "Port 22", f"ListenAddress {self.addr}", f"HostKey {d / 'host'}", f"PidFile {d / 'sshd.pid'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}", "StrictModes no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin prohibit-password",
            "AllowTcpForwarding yes",  # and sshd's default MaxSessions (10), as on most hosts
            f"SetEnv DOCKER_HOST=unix://{self.docker_sock} SLURM_CONF={self.slurm_conf}"]) + "\n")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        self._spawn("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")])

    def _dockerd(self) -> None:
        d = self.docker_dir
        d.mkdir(parents=True)
        self._spawn("dockerd", [
            shutil.which("dockerd") or "/usr/sbin/dockerd", "--storage-driver=vfs", "--iptables=false",
            "--ip6tables=false", "--bridge=none", "-H", f"unix://{self.docker_sock}", f"--data-root={d / 'data'}",
            f"--exec-root={d / 'exec'}", f"--pidfile={d / 'docker.pid'}"])

    def _slurm(self) -> None:
        d = self.slurm_dir
        for sub in ("state", "spool"):
            (d / sub).mkdir(parents=True)
        host = socket.gethostname().split(".")[0]
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.slurm_conf.write_text("\n".join([
            # The namespace's own loopback: reachable there only, like a cluster's private network.
            "ClusterName=far", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root",
            "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={d / 'munge.sock'}",
            "SlurmctldPort=6817", "SlurmdPort=6818",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core", "ReturnToService=2", "MpiDefault=none", "JobCompType=jobcomp/none",
            "JobAcctGatherType=jobacct_gather/none", "SlurmdParameters=config_overrides", f"StateSaveLocation={d / 'state'}",
            f"SlurmdSpoolDir={d / 'spool'}", f"SlurmctldPidFile={d / 'slurmctld.pid'}",
            f"SlurmdPidFile={d / 'slurmd.pid'}", f"SlurmctldLogFile={d / 'slurmctld.log'}",
            f"SlurmdLogFile={d / 'slurmd.log'}", "SlurmctldTimeout=30", "SlurmdTimeout=30", "MinJobAge=300",
            f"NodeName={host} NodeAddr=127.0.0.1 CPUs=4 RealMemory=4000 State=UNKNOWN",
            f"PartitionName=far Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n")
        self._spawn("munged", ["/usr/sbin/munged", "-F", "--force", f"--key-file={key}",
                               f"--socket={d / 'munge.sock'}", f"--pid-file={d / 'munged.pid'}",
                               f"--seed-file={d / 'munged.seed'}"])
        _wait("munged creating its socket", (d / "munge.sock").exists, self.root / "munged.log", 15)
        env = {"SLURM_CONF": str(self.slurm_conf)}
        self._spawn("slurmctld", ["/usr/sbin/slurmctld", "-D", "-f", str(self.slurm_conf)], env)
        self._spawn("slurmd", ["/usr/sbin/slurmd", "-D", "-f", str(self.slurm_conf)], env)

    def _worker(self) -> None:
        """The stand-in SGLang worker, on the namespace's loopback only."""
        self._spawn("worker", [sys.executable, "-m", "servedeck.lab.standin_sglang", "--host", "127.0.0.1",
                               "--port", str(WORKER_PORT), "--model-name", "far-model"])

    def _wait_all(self) -> None:
        def listening(port: int, addr: str) -> Callable[[], bool]:
            probe = ["python3", "-c", f"import socket; socket.create_connection(('{addr}', {port}), 1).close()"]
            return lambda: subprocess.run([*self.inside, *probe], capture_output=True,
                                          timeout=10).returncode == 0

        def ssh_listens() -> bool:
            try:
                socket.create_connection((self.addr, 22), timeout=1).close()
                return True
            except OSError:
                return False

        _wait("sshd listening", ssh_listens, self.root / "sshd.log", 20)
        _wait("dockerd answering", lambda: self.docker("version", check=False).returncode == 0,
              self.root / "dockerd.log", 60)
        _wait("the stand-in worker listening", listening(WORKER_PORT, "127.0.0.1"), self.root / "worker.log", 30)

        def node_idle() -> bool:
            done = self.slurm("sinfo", "-h", "-N", "-o", "%t", check=False)
            return done.returncode == 0 and done.stdout.strip() in ("idle", "mix", "alloc")
        _wait("the SLURM node going idle", node_idle, self.slurm_dir / "slurmctld.log", 60)
        self._ticker()

    def _ticker(self) -> None:
        """A small image built on the far engine (no pulls) and a container printing lines."""
        ctx = self.root / "image"
        ctx.mkdir()
        shutil.copy("/bin/busybox", ctx / "busybox")
        (ctx / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
        self.docker("build", "-q", "-t", IMAGE, str(ctx))
        self.docker("run", "-d", "--name", TICKER, "--network", "none", IMAGE, "sh", "-c",
                    # PID 1 ignores SIGTERM unless it traps it: a stop would wait out its timeout
                    'trap "exit 0" TERM; i=0; while true; do echo "far tick $i"; i=$((i+1)); sleep 0.5 & wait; done')

    def container_state(self, name: str = TICKER) -> str:
        done = self.docker("inspect", name, check=False)
        return json.loads(done.stdout)[0]["State"]["Status"] if done.returncode == 0 else "absent"
