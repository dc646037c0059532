"""The four backends and the SSH pool against the real lab services (see tests/conftest.py)."""

from __future__ import annotations

import subprocess
import time

import pytest

from servedeck.backends.base import BackendContext, BackendError, Health
from servedeck.backends.docker_backend import DockerBackend, DockerSettings
from servedeck.backends.prometheus_backend import PrometheusBackend, PrometheusSettings
from servedeck.backends.router_backend import RouterBackend, RouterSettings
from servedeck.backends.runner import BackendRunner
from servedeck.backends.slurm_backend import SlurmBackend, SlurmSettings
from servedeck.backends.ssh import SSHPool

pytestmark = pytest.mark.integration

# A job name full of shell metacharacters: it must reach SLURM and come back literally.
NASTY = "sd;echo pwned $(id) `x` 'q\" |&>"


def until(fn, *, tries: int = 60, pause: float = 0.5):
    """Call fn until it returns something truthy (bounded: a hung service fails the test)."""
    for _ in range(tries):
        value = fn()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"condition never held: {fn.__doc__ or fn}")


# -- docker -----------------------------------------------------------------------------

def test_docker_containers_and_actions(lab, container):
    runner = BackendRunner(DockerBackend(DockerSettings(name="local", url=lab.docker_url)))
    assert runner.poll_once(frozenset()).state.health is Health.OK

    def row():
        snap = runner.poll_once(frozenset({"containers"}))
        assert snap.state.health is Health.OK, snap.state
        return next((r for r in snap.panes["containers"] if r.name == container.name), None)

    r = row()
    assert (r.host, r.id, r.image, r.state) == ("local", container.id[:12], "servedeck-test-busybox:latest", "running")
    assert r.started_at is not None and r.status.startswith("Up")
    result = runner.perform("container.stop", r, readonly=False)
    assert result.ok, result.message
    assert row().state == "exited"
    assert runner.perform("container.start", r, readonly=True).ok is False  # read-only refuses
    assert runner.perform("container.start", r, readonly=False).ok
    assert row().state == "running"


# -- prometheus -------------------------------------------------------------------------

def test_prometheus_targets(lab):
    runner = BackendRunner(PrometheusBackend(PrometheusSettings(name="lab", url=lab.prometheus_url)))
    assert runner.poll_once(frozenset()).state.health is Health.OK

    node = lab.node_exporter_url.split("//")[-1].rstrip("/")

    def scraped():
        """every target scraped at least once, node_exporter up"""
        snap = runner.poll_once(frozenset({"targets"}))
        rows = snap.panes.get("targets", ())
        ready = rows and all(r.last_scrape_age_s is not None for r in rows)
        return snap if ready and any(r.instance == node and r.health == "up" for r in rows) else None

    snap = until(scraped)
    rows = snap.panes["targets"]
    assert all(r.prometheus == "lab" and r.job for r in rows)
    down = [r for r in rows if r.health == "down"]
    if down:  # the state says which are down
        assert snap.state.health is Health.DEGRADED and down[0].instance in snap.state.message
    else:
        assert snap.state.health is Health.OK


# -- slurm ------------------------------------------------------------------------------

def _submit(pool: SSHPool, name: str) -> str:
    result = pool.run("lab", ["sbatch", "--parsable", "--job-name", name, "--output", "/dev/null", "--wrap", "sleep 300"], timeout=30)
    assert result.rc == 0, result.stderr
    return result.stdout.strip().split(";")[0]


@pytest.mark.parametrize("force_text", [False, True], ids=["json", "text-fallback"])
def test_slurm_jobs_over_ssh_and_cancel(lab, ssh_pool, force_text):
    backend = SlurmBackend(SlurmSettings(name="lab-slurm", ssh="lab"), BackendContext(extras={"ssh": ssh_pool}))
    if force_text:
        backend._json_ok = False  # as after squeue said it cannot print JSON
    runner = BackendRunner(backend)
    assert runner.poll_once(frozenset()).state.health is Health.OK
    job_id = _submit(ssh_pool, NASTY)

    def job():
        """the submitted job is listed"""
        snap = runner.poll_once(frozenset({"jobs"}))
        assert snap.state.health is Health.OK, snap.state
        return next((r for r in snap.panes["jobs"] if r.job_id == job_id), None)

    row = until(job)
    assert row.name == NASTY and row.cluster == "lab-slurm"
    assert row.state in ("PENDING", "RUNNING", "CONFIGURING")
    result = runner.perform("job.cancel", row, readonly=False)
    assert result.ok, result.message

    def gone():
        """the job left the queue or shows as cancelled"""
        r = job()
        return r is None or r.state in ("CANCELLED", "COMPLETING")

    until(gone)


def test_slurm_locally(lab, monkeypatch):
    if lab.slurm_conf:
        monkeypatch.setenv("SLURM_CONF", lab.slurm_conf)
    runner = BackendRunner(SlurmBackend(SlurmSettings(name="here")))
    assert runner.poll_once(frozenset()).state.health is Health.OK
    snap = runner.poll_once(frozenset({"jobs"}))
    assert snap.state.health is Health.OK and "jobs" in snap.panes


def test_slurm_cancel_refuses_non_ids(lab, ssh_pool):
    backend = SlurmBackend(SlurmSettings(name="s", ssh="lab"), BackendContext(extras={"ssh": ssh_pool}))
    row = type("Row", (), {"job_id": "1; rm -rf /", "name": ""})()
    assert backend.perform("job.cancel", row).ok is False


# -- router -----------------------------------------------------------------------------

def test_router_workers_remove_and_add_back(lab):
    backend = RouterBackend(RouterSettings(name="lab", url=lab.router_url))
    runner = BackendRunner(backend)
    assert runner.poll_once(frozenset()).state.health is Health.OK

    def rows():
        return {r.url: r for r in runner.poll_once(frozenset({"workers"})).panes.get("workers", ())}

    def all_there():
        """every lab worker is registered and healthy"""
        current = rows()
        return current if set(lab.worker_urls) <= set(current) and all(current[u].healthy for u in lab.worker_urls) else None

    current = until(all_there)
    victim = current[lab.worker_urls[-1]]
    assert victim.id and victim.model
    result = runner.perform("worker.remove", victim, readonly=False)
    assert result.ok, result.message
    until(lambda: victim.url not in rows())
    assert backend.add_worker(victim.url).ok
    until(all_there)


# -- ssh --------------------------------------------------------------------------------

def test_ssh_known_key_accepted_and_connection_shared(ssh_pool):
    first = ssh_pool.run("lab", ["printf", "%s", "a b;$(c)"], timeout=10)
    assert (first.rc, first.stdout) == (0, "a b;$(c)")
    client = ssh_pool.client("lab")
    assert ssh_pool.run("lab", ["sh", "-c", "exit 3"], timeout=10).rc == 3
    assert ssh_pool.client("lab") is client  # one connection per host


def test_ssh_reconnects_after_drop(ssh_pool):
    ssh_pool.run("lab", ["true"], timeout=10)
    ssh_pool.client("lab").get_transport().close()  # the connection drops
    assert ssh_pool.run("lab", ["echo", "back"], timeout=10).stdout == "back\n"


def test_ssh_unknown_host_key_refused_with_how_to_accept(lab_ssh_host, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/known_hosts either
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    pool = SSHPool({"lab": lab_ssh_host.model_copy(update={"known_hosts": str(empty)})})
    with pytest.raises(BackendError) as err:
        pool.run("lab", ["true"], timeout=10)
    assert "unknown host key" in err.value.message and "SHA256:" in err.value.message
    assert "accept_new_host_key: true" in err.value.hint and str(empty) in err.value.hint


def test_ssh_accept_new_records_key_then_changed_key_refused(lab_ssh_host, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    record = tmp_path / "kh"
    accepting = SSHPool({"lab": lab_ssh_host.model_copy(update={"known_hosts": str(record), "accept_new_host_key": True})})
    assert accepting.run("lab", ["true"], timeout=10).rc == 0
    accepting.close()
    strict = SSHPool({"lab": lab_ssh_host.model_copy(update={"known_hosts": str(record)})})
    assert strict.run("lab", ["true"], timeout=10).rc == 0  # the recorded key is trusted now
    strict.close()
    host_entry, key_type, _ = record.read_text().split()[:3]
    forged = tmp_path / "forged"
    keygen_type = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(key_type, "ecdsa")
    subprocess.run(["ssh-keygen", "-q", "-t", keygen_type, "-N", "", "-f", str(forged)], check=True)
    record.write_text(f"{host_entry} {forged.with_suffix('.pub').read_text().split()[0]} "
                      f"{forged.with_suffix('.pub').read_text().split()[1]}\n")
    changed = SSHPool({"lab": lab_ssh_host.model_copy(update={"known_hosts": str(record), "accept_new_host_key": True})})
    with pytest.raises(BackendError) as err:
        changed.run("lab", ["true"], timeout=10)
    assert "CHANGED" in err.value.message
