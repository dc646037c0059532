"""SLURM over the lab's sshd and the real router: job details and logs followed over SSH,
the CLI verbs, worker <-> job matching, and a drain end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import httpx
import pytest

from servedeck.backends.base import BackendContext, OpenLog, ShowText
from servedeck.backends.router.backend import RouterBackend, RouterSettings
from servedeck.lab.ports import is_free
from support import PORT_OFFSET
from ssh_support import submit_worker, until

pytestmark = pytest.mark.integration

NASTY = "sd;echo pwned $(id) `x` 'q\" |&> ü"


def servedeck(lab, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "servedeck", *argv, "--config", str(lab.config_path)],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def free_port(start: int) -> int:
    return next(p for p in range(start, start + 50) if is_free(p))


def test_job_details_and_stdout_followed_over_ssh(lab, pool, slurm, tmp_path):
    out_dir = tmp_path / "out dir;$(x)"  # spaces and metacharacters in the path: read literally
    out_dir.mkdir()
    script = "for i in 1 2 3; do echo line-$i; done; sleep 120"
    result = pool.run("lab", ["sbatch", "--parsable", "--job-name", NASTY, "--output", str(out_dir / "o-%j.out"),
                              "--wrap", script], timeout=30)
    assert result.rc == 0, result.stderr
    job_id = result.stdout.strip().split(";")[0]
    try:
        row = until(lambda: next((r for r in slurm.poll(frozenset({"jobs"}))["jobs"] if r.job_id == job_id), None))
        assert row.name == NASTY  # the name round-trips literally through ssh, sbatch and squeue
        details = slurm.perform("job.details", row)
        assert details.ok and isinstance(details.follow_up, ShowText) and f"JobId={job_id}" in details.follow_up.text
        opened = slurm.perform("job.stdout", row)
        assert opened.ok and isinstance(opened.follow_up, OpenLog)
        source = opened.follow_up.source
        assert source.path == str(out_dir / f"o-{job_id}.out")
        stop = threading.Event()
        lines: list[str] = []
        for event in source.events(tail=10, follow=True, stop=stop):
            if event.kind == "line":
                lines.append(event.text)
            if len(lines) == 3:
                stop.set()
        assert lines == ["line-1", "line-2", "line-3"]
        assert slurm.log_source("job", job_id).path == source.path  # `servedeck logs job/ID` resolves it too
        assert slurm.log_source("job", "1; rm -rf /") is None
    finally:
        slurm.cancel(job_id)


def test_cli_jobs_cancel_readonly_and_confirmation(lab, pool, tmp_path):
    job_id = submit_worker(pool, free_port(36000 + PORT_OFFSET // 10), tmp_path, name="sd-cli")
    try:
        def listed():
            """`servedeck jobs --json` lists the job"""
            done = servedeck(lab, "jobs", "--json")
            return next((j for j in json.loads(done.stdout) if j["job_id"] == job_id), None) if done.returncode == 0 else None
        job = until(listed, tries=40)
        assert {"cluster", "job_id", "name", "user", "state", "partition", "node", "elapsed_s", "time_left_s",
                "reason"} <= set(job)
        assert job["name"] == "sd-cli" and job["cluster"] == "lab-slurm"
        refused = servedeck(lab, "--readonly", "cancel", job_id, "--yes")
        assert refused.returncode == 3 and "read-only" in refused.stderr
        unconfirmed = servedeck(lab, "cancel", job_id)  # no terminal, no --yes
        assert unconfirmed.returncode == 3 and "--yes" in unconfirmed.stderr
        assert until(listed)["state"] in ("RUNNING", "PENDING", "CONFIGURING")
        done = servedeck(lab, "cancel", job_id, "--yes")
        assert done.returncode == 0, done.stderr
        until(lambda: (j := listed()) is None or j["state"] in ("CANCELLED", "COMPLETING"))
    finally:
        pool.run("lab", ["scancel", job_id], timeout=30)


def test_drain_end_to_end(lab, pool, tmp_path):
    """A worker that is a SLURM job: the router lists it, drain removes it, the job ends."""
    port = free_port(36100 + PORT_OFFSET // 10)
    url = f"http://127.0.0.1:{port}"
    job_id = submit_worker(pool, port, tmp_path, name="sd-drain")
    router = RouterBackend(RouterSettings(name="lab-router", url=lab.router_url), BackendContext())
    try:
        until(lambda: _healthy(url), tries=120)
        assert router.add_worker(url).ok
        until(lambda: any(w.url == url for w in router.poll(frozenset({"workers"}))["workers"]), tries=120)
        status = json.loads(servedeck(lab, "status", "--json").stdout)
        mine = next(w for w in status["workers"] if w["url"] == url)
        assert mine["job_id"] in ("", job_id)  # the router may poll before SLURM in one shot
        refused = servedeck(lab, "--readonly", "drain", job_id, "--yes")
        assert refused.returncode == 3
        done = servedeck(lab, "drain", job_id, "--yes", "--grace", "1")
        assert done.returncode == 0, done.stdout + done.stderr
        steps = [line.split()[:2] for line in done.stdout.splitlines() if line.split()[:1] != ["drain"]]
        assert [s for s in steps if s[1] != "started"] == [
            ["remove", "ok"], ["grace", "ok"], ["cancel", "ok"], ["confirm", "ok"], ["done", "ok"]]
        assert url not in {w.url for w in router.poll(frozenset({"workers"}))["workers"]}
        again = servedeck(lab, "drain", job_id, "--yes")
        assert again.returncode == 1 and "already ended" in again.stderr
    finally:
        pool.run("lab", ["scancel", job_id], timeout=30)
        router.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_cli_workers_job_nodes_submit(lab, tmp_path):
    listed = servedeck(lab, "workers", "--json")
    assert listed.returncode == 0, listed.stderr
    workers = json.loads(listed.stdout)
    assert set(lab.worker_urls) <= {w["url"] for w in workers}
    assert {"router", "id", "url", "healthy", "load", "job_id"} <= set(workers[0])
    unconfirmed = servedeck(lab, "worker", "remove", lab.worker_urls[0])
    assert unconfirmed.returncode == 3 and "--yes" in unconfirmed.stderr
    assert servedeck(lab, "worker", "add", "ftp://x;y").returncode == 1
    bad = servedeck(lab, "job", "1;id")
    assert bad.returncode == 1 and "not a SLURM job id" in bad.stderr
    nodes = servedeck(lab, "nodes")
    assert nodes.returncode == 0 and "PARTITION" in nodes.stdout
    script = tmp_path / "job with space.sh"
    script.write_text("#!/bin/sh\n#SBATCH --output=/dev/null\necho from-script\n")
    assert servedeck(lab, "submit", str(script), "--readonly").returncode == 3
    submitted = servedeck(lab, "submit", str(script))
    assert submitted.returncode == 0 and "submitted" in submitted.stdout
    job_id = submitted.stdout.split()[-1]
    shown = servedeck(lab, "job", job_id)
    assert shown.returncode == 0 and f"JobId={job_id}" in shown.stdout
