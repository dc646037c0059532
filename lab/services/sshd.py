"""OpenSSH on 127.0.0.1:2222 with its own host key, user key and known_hosts under DIR/ssh.

The lab's servedeck.yaml reaches SLURM through it exactly as a real cluster is reached:
over SSH, with a pinned host key (no trust-on-first-use needed).
"""

from __future__ import annotations

import getpass
import socket
from pathlib import Path

from servedeck.lab.procs import run
from servedeck.lab.services.base import Context, Waiter, find
from servedeck.lab.state import LabError, SSHInfo

LOCAL = "127.0.0.1"


def _keygen(path: Path, comment: str) -> None:
    if path.exists():
        return
    done = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    if done is None or done.returncode != 0:
        raise LabError(f"sshd: ssh-keygen failed for {path}: {done.stderr.strip() if done else 'not installed'}")


def _banner(port: int) -> bool:
    try:
        with socket.create_connection((LOCAL, port), timeout=1) as sock:
            return sock.recv(64).startswith(b"SSH-2.0")
    except OSError:
        return False


def start_sshd(ctx: Context, slurm_conf: str | None) -> Waiter | None:
    binary = find("sshd", "/usr/sbin")
    if binary is None:
        ctx.log("sshd: not installed (apt-get install openssh-server); skipped")
        return None
    d = ctx.path("ssh", "x").parent
    d.chmod(0o700)
    host_key, user_key = d / "ssh_host_ed25519_key", d / "id_ed25519"
    _keygen(host_key, "servedeck-lab-host")
    _keygen(user_key, "servedeck-lab-user")
    (d / "authorized_keys").write_text((d / "id_ed25519.pub").read_text())
    port = ctx.ports.sshd
    host_pub = " ".join((d / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    known_hosts = d / "known_hosts"
    known_hosts.write_text(f"[{LOCAL}]:{port} {host_pub}\n")
    conf = d / "sshd_config"
    conf.write_text("\n".join([
        f"Port {port}", f"ListenAddress {LOCAL}", f"HostKey {host_key}", f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "StrictModes no",  # DIR may sit under /tmp (world-writable): the keys are ours anyway
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "PermitRootLogin prohibit-password", "AllowTcpForwarding yes", "Subsystem sftp internal-sftp",
        *([f"SetEnv SLURM_CONF={slurm_conf}"] if slurm_conf else []),
    ]) + "\n")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation dir sshd insists on
    rec = ctx.launch("sshd", [binary, "-D", "-e", "-f", str(conf)], port=port, url=f"ssh://{LOCAL}:{port}")
    ctx.info.ssh = SSHInfo(host=LOCAL, port=port, user=getpass.getuser(), key_file=str(user_key),
                           known_hosts=str(known_hosts))
    return lambda: ctx.await_ready(rec, lambda: _banner(port), "send its SSH banner")
