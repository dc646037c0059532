"""The orchestrator against real SLURM and a real router, stand-in workers as SLURM jobs."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import urllib.request

import pytest

from orch_support import http_json, until

pytestmark = pytest.mark.integration


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


TOKEN = "tok-3f9a1c-not-for-logs"


def test_n_ready_then_replaces_unhealthy_and_cancelled_workers(orch):
    orch.write_config(replicas=2, health={"headers": {"Authorization": "Bearer ${SD_WORKER_TOKEN}"}})
    orch.slurm_env["SD_WORKER_TOKEN"] = TOKEN
    orch.start()
    first = until(orch.ready_urls, 90, what="2 ready, registered workers")
    assert orch.router_urls() == first
    jobs = orch.jobs()
    assert len(jobs) == 2 and all("sgorch:dep=dep;iid=" in j["comment"] for j in jobs)
    st = orch.status()
    victim, other = st["workers"]

    # A worker that stops answering health (SIGSTOP: its job keeps running) is replaced.
    pid = orch.worker_pid(victim["job_id"])
    os.kill(pid, signal.SIGSTOP)
    try:
        def replaced():
            urls = orch.ready_urls()
            ids = {w["instance_id"] for w in orch.status()["workers"]}
            return urls and victim["instance_id"] not in ids and urls
        until(replaced, 90, what="unhealthy worker replaced")
        until(lambda: victim["job_id"] not in {j["id"] for j in orch.jobs()}, 30, what="unhealthy job cancelled")
    finally:
        with contextlib.suppress(ProcessLookupError):  # gone once its job was cancelled
            os.kill(pid, signal.SIGCONT)

    # A job cancelled behind the orchestrator's back is replaced.
    subprocess.run(["scancel", other["job_id"]], env=orch.env(), check=True, timeout=30)

    def replaced_again():
        urls = orch.ready_urls()
        ids = {w["job_id"] for w in orch.status()["workers"]}
        return urls and other["job_id"] not in ids and urls
    final = until(replaced_again, 90, what="cancelled job replaced")
    until(lambda: orch.router_urls() == final, 30, what="router lists exactly the ready workers")
    assert len(orch.jobs()) == 2

    # Metrics with the seed's names, JSON logs with the seed's fields.
    from servedeck.orchestrator.control import request

    port = request(orch.socket, {"cmd": "status"})["status"]["metrics_port"]
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert metric(text, "sgorch_workers_desired", deployment="dep") == 2
    assert metric(text, "sgorch_workers_ready", deployment="dep") == 2
    assert metric(text, "sgorch_restarts_total", deployment="dep", reason="unhealthy") == 1
    assert metric(text, "sgorch_restarts_total", deployment="dep", reason="job_gone") == 1
    for name in ("sgorch_workers_unhealthy", "sgorch_tunnels_up"):
        assert metric(text, name, deployment="dep") is not None
    logs = orch.logs()
    assert {"ts", "level", "msg", "deployment", "job_id", "worker_url", "event"} <= set(
        next(l for l in logs if l.get("event") == "worker_registered"))
    assert TOKEN not in (orch.dir / "orchestrator.log").read_text()  # the health header's secret
    events = {l["event"] for l in logs}
    assert {"worker_pending", "worker_ready", "worker_registered", "worker_unhealthy", "worker_draining",
            "worker_gone", "worker_deregistered"} <= events


def test_short_time_limit_predrains_without_capacity_gap(orch):
    """time limit 1 min, pre-drain 50 s before: the replacement comes up first."""
    orch.write_config(replicas=1, slurm={"time_limit": "1"}, policy={"predrain_seconds_before_walltime": 50})
    orch.start()
    first = until(orch.ready_urls, 90, what="1 ready worker")
    first_job = orch.status()["workers"][0]["job_id"]
    samples = []

    def old_gone_new_serving():
        urls = orch.router_urls()
        samples.append(len(urls))
        st = orch.status()
        jobs = {w["job_id"] for w in st["workers"]}
        ready = orch.ready_urls()
        return first_job not in jobs and ready and ready != first and urls == ready
    until(old_gone_new_serving, 120, pause=0.1, what="pre-drained worker replaced")
    assert min(samples) >= 1, f"a moment with {min(samples)} registered workers: {samples}"
    assert max(samples) == 2  # both served during the hand-over
    assert first_job not in {j["id"] for j in orch.jobs()}
    reasons = [t["reason"] for t in orch.status()["timeline"]]
    assert any(r.startswith("walltime") for r in reasons)


def test_node_failure_blacklists_the_node(own_slurm, orch):
    """On a SLURM of its own: taking the session lab's only node down would kill and
    requeue the lab's own worker jobs (their router then lists them unhealthy)."""
    orch.slurm_env["SLURM_CONF"] = own_slurm
    orch.write_config(replicas=1)
    orch.start()
    until(orch.ready_urls, 90, what="1 ready worker")
    node = orch.status()["workers"][0]["node"]
    env = orch.env()
    subprocess.run(["scontrol", "update", f"NodeName={node}", "State=DOWN", "Reason=sgorch-test"],
                   env=env, check=True, timeout=30)
    try:
        st = until(lambda: (s := orch.status()) and node in s["blacklist"] and s, 60, what="node blacklisted")
        assert any("failed" in t["reason"] and node in t["reason"] for t in st["timeline"])
        until(lambda: any(l.get("event") == "notify_node_blacklisted" and node in l["msg"] for l in orch.logs()),
              10, what="blacklist notification logged")
        # The replacement is submitted with the node excluded, so it cannot land there.
        def excluded():
            scripts = sorted((orch.state_dir / "scripts").glob("*.sbatch"), key=os.path.getmtime)
            return len(scripts) >= 2 and f"#SBATCH --exclude={node}" in scripts[-1].read_text()
        until(excluded, 30, what="replacement excludes the node")
    finally:
        subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], env=env, timeout=30)


def test_hostile_args_and_env_reach_the_worker_literally(orch, tmp_path):
    """Shell metacharacters in args, env and log dir: quoted in the sbatch script, so the
    worker gets them as written and nothing is executed."""
    canary = tmp_path / "pwned"
    nasty = f"m; touch {canary} $(touch {canary}) `touch {canary}` 'q\" |&>"
    log_dir = tmp_path / "log dir $(x)"
    orch.write_config(replicas=1, sglang={"args": ["--host", "127.0.0.1", "--port", "{PORT}", "--model-name", nasty]},
                      slurm={"env": {"SD_NASTY": nasty}, "log_dir": str(log_dir)})
    orch.start()
    (url,) = until(orch.ready_urls, 90, what="1 ready worker")
    info = http_json(url.replace("vm", "127.0.0.1") + "/get_model_info")
    assert info["model_path"] == nasty
    assert not canary.exists()
    job = orch.status()["workers"][0]["job_id"]
    # The job prints its READY marker from its own probe loop, which can trail the
    # orchestrator's probes on a loaded machine: wait for it rather than race it.
    out = log_dir / f"{orch.prefix}dep-{job}.out"
    until(lambda: "SGORCH_READY" in out.read_text(), 30, what="the job's READY marker")
