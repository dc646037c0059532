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


def controller_answers(env: dict[str, str] | None = None) -> bool:
    done = run(["scontrol", "ping"], timeout=5, env=env)
    return done is not None and done.returncode == 0 and "UP" in done.stdout


def slurm_conf(d: Path, host: str, ctx: Context) -> str:
    return "\n".join([
        "ClusterName=servedeck-lab", f"SlurmctldHost={host}", "SlurmUser=root",
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
        f"NodeName={host} CPUs=16 RealMemory=16000 Gres=gpu:{FAKE_GPUS} State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n"


def start_slurm(ctx: Context) -> Waiter | None:
    """Returns None when SLURM is absent or reused; sets ctx.info.slurm(_conf)."""
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
    return ready


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
