"""Renders the sbatch script of one worker instance.

Every interpolated value is quoted with shlex.quote (the body) or was validated as a
single literal token by the config (the #SBATCH lines), so names and args full of shell
metacharacters reach the worker literally. The comment marker (`sgorch:dep=..;iid=..;
port=..`) lets adoption find the job again after a restart; the READY line printed once
the worker answers its health path lets adoption tell a booted worker from a booting one.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from typing import Iterable

from servedeck.orchestrator.config import Deployment

MARKER = "sgorch"
READY_WORD = "SGORCH_READY"
_MARKER_RE = re.compile(r"sgorch:dep=(?P<dep>[^;]*);iid=(?P<iid>[^;]*);port=(?P<port>\d+)(?:;rport=(?P<rport>\d+))?")
_READY_RE = re.compile(r"^SGORCH_READY instance=(?P<iid>\S+) port=(?P<port>\d+)", re.M)


@dataclass(frozen=True)
class Marker:
    deployment: str
    instance_id: str
    port: int
    rport: int | None = None  # reverse tunnels: the port the job opens on the orchestrator host


def comment(deployment: str, instance_id: str, port: int, rport: int | None = None) -> str:
    return f"{MARKER}:dep={deployment};iid={instance_id};port={port}" + (f";rport={rport}" if rport else "")


def parse_comment(text: str) -> Marker | None:
    found = _MARKER_RE.search(text or "")
    if not found:
        return None
    return Marker(found["dep"], found["iid"], int(found["port"]), int(found["rport"]) if found["rport"] else None)


def ready_in_log(text: str, instance_id: str) -> bool:
    """True when the job log has the READY line of this instance."""
    return any(m["iid"] == instance_id for m in _READY_RE.finditer(text))


def log_dir(dep: Deployment) -> str:
    return os.path.expanduser(dep.slurm.log_dir)


def log_path(dep: Deployment, job_id: str) -> str:
    return os.path.join(log_dir(dep), f"{dep.job_name}-{job_id}.out")


def _probe_python(dep: Deployment) -> str:
    launch = dep.launch
    if launch.venv_path:
        return f"{launch.venv_path.rstrip('/')}/bin/python"
    if launch.command and os.path.basename(launch.command[0]).startswith("python"):
        return launch.command[0]
    return "python3"


_PROBE = (
    "import sys, urllib.request, urllib.error\n"
    "try:\n"
    "    urllib.request.urlopen(sys.argv[1], timeout=3)\n"
    "except urllib.error.HTTPError as e:\n"
    "    sys.exit(0 if e.code < 500 else 1)\n"
    "except Exception:\n"
    "    sys.exit(1)\n"
)


def reverse_tunnel(dep: Deployment, port: int, rport: int) -> list[str]:
    """Lines that keep `ssh -R` from the node back to the orchestrator host while the worker runs."""
    c, q = dep.connectivity, shlex.quote
    argv = ["ssh", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15", "-o", "BatchMode=yes",
            "-p", str(c.ssh.port)]
    if c.ssh.key_file:
        argv += ["-i", c.ssh.key_file]
    if c.ssh.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={c.ssh.known_hosts}"]
    argv += list(c.ssh.opts) + ["-R", f"{c.advertise_host}:{rport}:127.0.0.1:{port}"]
    argv.append(f"{c.ssh.user}@{c.orchestrator_host}" if c.ssh.user else c.orchestrator_host)
    return [
        f'( while kill -0 "$worker" 2>/dev/null; do {" ".join(q(a) for a in argv)}; sleep 2; done ) &',
        "tunnel=$!",
        "trap 'kill -TERM \"$worker\" \"$tunnel\" 2>/dev/null' TERM INT",
    ]


def render(dep: Deployment, instance_id: str, port: int, exclude: Iterable[str] = (),
           rport: int | None = None) -> str:
    """The whole script. `exclude` are blacklisted nodes (`--exclude`); `rport` the
    orchestrator-side port of a reverse tunnel."""
    s = dep.slurm
    q = shlex.quote
    out = os.path.join(log_dir(dep), f"{dep.job_name}-%j.out")
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={dep.job_name}",
        f"#SBATCH --comment={comment(dep.name, instance_id, port, rport)}",
        f'#SBATCH --output="{out}"',
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        "#SBATCH --no-requeue",  # a failed worker is replaced by us, not requeued by SLURM
    ]
    options = [("account", s.account), ("reservation", s.reservation), ("partition", s.partition),
               ("qos", s.qos), ("gres", s.gres), ("constraint", s.constraint), ("time", s.time_limit),
               ("cpus-per-task", s.cpus_per_task), ("mem", s.mem)]
    lines += [f"#SBATCH --{flag}={value}" for flag, value in options if value not in (None, "")]
    nodes = sorted(n for n in exclude if n)
    if nodes:
        lines.append(f"#SBATCH --exclude={','.join(nodes)}")
    lines += [extra if extra.lstrip().startswith("#SBATCH") else f"#SBATCH {extra}" for extra in s.sbatch_extra]
    lines += ["", "set -u", f"export SGORCH_DEPLOYMENT={q(dep.name)} SGORCH_INSTANCE={q(instance_id)} SGORCH_PORT={port}"]
    lines += [f"export {key}={q(value)}" for key, value in s.env.items()]
    lines += [f"export {key}={q(value)}" for key, value in dep.launch.env.items()]  # the backend's own env
    lines += list(s.pre_commands)
    argv = " ".join(_word(a, first=i == 0) for i, a in enumerate(dep.launch.argv(port)))
    health = f"http://127.0.0.1:{port}{dep.health.path}"
    lines += [
        f"{argv} &",
        "worker=$!",
        'echo "SGORCH_START instance=$SGORCH_INSTANCE port=$SGORCH_PORT host=$(hostname) pid=$worker"',
        "trap 'kill -TERM \"$worker\" 2>/dev/null' TERM INT",
        *(reverse_tunnel(dep, port, rport) if rport else []),
        f"until {q(_probe_python(dep))} -c {q(_PROBE)} {q(health)}; do",
        '    if ! kill -0 "$worker" 2>/dev/null; then wait "$worker"; rc=$?; '
        'echo "SGORCH_EXIT instance=$SGORCH_INSTANCE rc=$rc"; exit "$rc"; fi',
        "    sleep 1",
        "done",
        f'echo "{READY_WORD} instance=$SGORCH_INSTANCE port=$SGORCH_PORT host=$(hostname)"',
        'wait "$worker"',
        "",
    ]
    return "\n".join(lines)


def _word(arg: str, *, first: bool) -> str:
    """One quoted shell word; a program path `~/...` (the public sgorch's binary_path
    example) expands to the job's $HOME on the node, everything else stays literal."""
    if first and arg.startswith("~/"):
        return '"$HOME"/' + shlex.quote(arg[2:])
    return shlex.quote(arg)
