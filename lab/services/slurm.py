"""A single-node SLURM (munge, slurmctld, slurmd) with fake GPUs, all state under DIR/slurm.

A controller that already answers `scontrol ping` is reused, never started twice.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from servedeck.lab.procs import run
from servedeck.lab.services.base import Context, Waiter, find
from servedeck.lab.state import LabError

FAKE_GPUS = 8
LOCAL = "127.0.0.1"


def controller_answers(env: dict[str, str] | None = None) -> bool:
    done = run(["scontrol", "ping"], timeout=5, env=env)
    return done is not None and done.returncode == 0 and "UP" in done.stdout


def slurm_conf(d: Path, host: str, ctx: Context) -> str:
    return "\n".join([
        # Loopback only, like the rest of the lab: the address in parentheses plus
        # NoCtldInAddrAny binds slurmctld to it; NodeAddr plus NoInAddrAny binds slurmd.
        "ClusterName=servedeck-lab", f"SlurmctldHost={host}({LOCAL})", "SlurmUser=root",
        "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
        "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={d / 'munge.sock'}",
        f"SlurmctldPort={ctx.ports.slurmctld}", f"SlurmdPort={ctx.ports.slurmd}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "ReturnToService=2",
        "MpiDefault=none", "JobCompType=jobcomp/none", "JobAcctGatherType=jobacct_gather/none",
        "GresTypes=gpu", "SlurmdParameters=config_overrides",
        f"StateSaveLocation={d / 'state'}", f"SlurmdSpoolDir={d / 'spool'}",
        f"SlurmctldPidFile={d / 'slurmctld.pid'}", f"SlurmdPidFile={d / 'slurmd.pid'}",
        f"SlurmctldLogFile={d / 'slurmctld.log'}", f"SlurmdLogFile={d / 'slurmd.log'}",
        "SlurmctldTimeout=30", "SlurmdTimeout=30", "MinJobAge=300",
        f"NodeName={host} NodeAddr={LOCAL} CPUs=16 RealMemory=16000 Gres=gpu:{FAKE_GPUS} State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n"


def start_slurm(ctx: Context) -> Waiter | None:
    """Returns None when SLURM is absent, reused or already started (the workers may have
    started it first, to run as SLURM jobs); sets ctx.info.slurm(_conf)."""
    if ctx.info.service("slurmctld") is not None:
        return None
    if controller_answers():
        ctx.reuse("slurmctld")
        ctx.info.slurm = True
        ctx.log("slurm: a controller already answers `scontrol ping`; reusing it")
        return None
    binaries = {b: find(b, "/usr/sbin") for b in ("munged", "slurmctld", "slurmd", "sinfo")}
    if None in binaries.values():
        missing = ", ".join(b for b, p in binaries.items() if p is None)
        ctx.log(f"slurm: not installed ({missing} missing: apt-get install slurmctld slurmd slurm-client munge); skipped")
        return None
    d = ctx.path("slurm", "x").parent
    for sub in ("state", "spool"):
        (d / sub).mkdir(exist_ok=True)
    host = socket.gethostname().split(".")[0]
    key = d / "munge.key"
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = d / "slurm.conf"
    conf.write_text(slurm_conf(d, host, ctx))
    (d / "gres.conf").write_text(f"NodeName={host} Name=gpu File={d / 'fakegpu'}[0-{FAKE_GPUS - 1}]\n")
    for i in range(FAKE_GPUS):
        (d / f"fakegpu{i}").touch()
    env = {"SLURM_CONF": str(conf)}

    munge = ctx.launch("munged", [
        str(binaries["munged"]), "-F", "--force", f"--key-file={key}", f"--socket={d / 'munge.sock'}",
        f"--pid-file={d / 'munged.pid'}", f"--seed-file={d / 'munged.seed'}",
    ])
    ctx.await_ready(munge, lambda: (d / "munge.sock").exists(), "create its socket", timeout=10)
    ctld = ctx.launch("slurmctld", [str(binaries["slurmctld"]), "-D", "-f", str(conf)],
                      port=ctx.ports.slurmctld, env=env)
    slurmd = ctx.launch("slurmd", [str(binaries["slurmd"]), "-D", "-f", str(conf)],
                        port=ctx.ports.slurmd, env=env)
    ctx.info.slurm_conf = str(conf)

    def node_idle() -> bool:
        done = run(["sinfo", "-h", "-N", "-o", "%t"], timeout=5, env=env)
        return done is not None and done.returncode == 0 and done.stdout.strip() in ("idle", "mix", "alloc")

    def ready() -> None:
        ctx.await_ready(ctld, lambda: controller_answers(env), "answer `scontrol ping`")
        ctx.await_ready(slurmd, node_idle, "bring the node to idle in sinfo")
        ctx.info.slurm = True
        ctx.info.save()
        start_slurmrestd(ctx, d, conf)
    return ready


def start_slurmrestd(ctx: Context, d: Path, conf: Path) -> None:
    """slurmrestd (openapi v0.0.38) on a unix socket with local auth: Debian's SLURM is built
    without auth/jwt, so the socket's peer credentials authenticate. Optional: a missing
    binary or a failed start only logs a line."""
    binary = find("slurmrestd", "/usr/sbin")
    if binary is None:
        ctx.log("slurmrestd: not installed (apt-get install slurmrestd); skipped")
        return
    sock = d / "slurmrestd.sock"
    sock.unlink(missing_ok=True)
    # It refuses to run as root unless told (the lab's SlurmUser is root, like its jobs).
    rec = ctx.launch("slurmrestd", [binary, "-f", str(conf), "-a", "rest_auth/local", "-s", "openapi/v0.0.38",
                                    f"unix:{sock}"], url=f"unix://{sock}",
                     env={"SLURM_CONF": str(conf), "SLURMRESTD_SECURITY": "disable_user_check"})
    try:
        ctx.await_ready(rec, sock.exists, "create its socket", timeout=10)
    except LabError as exc:
        from servedeck.lab.procs import stop

        if rec.pid and rec.start_time is not None:
            stop(rec.pid, rec.start_time)
        ctx.info.services.remove(rec)  # optional: a failed one is not a STOPPED lab service
        ctx.info.save()
        ctx.log(f"slurmrestd: {exc}; skipped")
        return
    ctx.info.save()


def cancel_all_jobs(conf: str, timeout: float = 15.0) -> None:
    """Cancels every job of the lab's own controller so no slurmstepd outlives `lab down`."""
    from servedeck.lab.ports import wait_until

    env = {"SLURM_CONF": conf}
    listed = run(["squeue", "-h", "-o", "%i"], timeout=5, env=env)
    if listed is None or listed.returncode != 0 or not listed.stdout.split():
        return
    run(["scancel", *listed.stdout.split()], timeout=5, env=env)

    def drained() -> bool:
        done = run(["squeue", "-h", "-t", "RUNNING,COMPLETING,PENDING", "-o", "%i"], timeout=5, env=env)
        return done is None or done.returncode != 0 or not done.stdout.strip()
    wait_until(drained, timeout, interval=0.3)


def submit_job(conf: str | None, name: str, argv: list[str], *, comment: str, output: Path,
               cwd: Path) -> str:
    """sbatch one command (an argument list, quoted for the batch shell); returns the job id."""
    import shlex

    env = {"SLURM_CONF": conf} if conf else None
    done = run(["sbatch", "--parsable", "--job-name", name, "--comment", comment, "--output", str(output),
                "--chdir", str(cwd), "--wrap", f"exec {shlex.join(argv)}"], timeout=15, env=env)
    if done is None or done.returncode != 0:
        why = done.stderr.strip() if done else "sbatch could not run"
        raise LabError(f"{name}: sbatch failed: {why}")
    return done.stdout.strip().split(";")[0]
