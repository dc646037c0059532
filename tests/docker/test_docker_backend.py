"""The containers pane's backend against the real Docker Engine: rows, stats, events,
actions and their follow-ups, log sources, and the CLI verbs built on them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from servedeck.backends.base import BackendError, OpenLog, RunInteractive
from servedeck.backends.docker.backend import DockerBackend, DockerSettings
from servedeck.backends.logs.resolve import resolve
from servedeck.backends.logs.source import UnknownLogSource
from servedeck.backends.runner import BackendRunner

pytestmark = pytest.mark.integration
STATUS_FIELDS = ["name", "id", "host", "image", "state", "health", "started_at", "cpu_percent", "mem_bytes"]


def until(fn, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def row_of(backend: DockerBackend, name: str):
    rows = backend.poll(frozenset({"containers"}))["containers"]
    return next((r for r in rows if r.name == name), None)


@pytest.fixture
def backend(lab):
    b = DockerBackend(DockerSettings(name="lab-docker", url=lab.docker_url))
    yield b
    b.close()


def test_rows_carry_state_health_usage_and_ports(backend, run_container):
    c = run_container("sleep 600", healthcheck={"test": ["CMD", "true"], "interval": 500_000_000})
    row = until(lambda: (r := row_of(backend, c.name)) and r.health == "healthy" and r, what="healthy row")
    assert (row.host, row.id, row.image, row.state) == ("lab-docker", c.id[:12], "sdctr-busybox:latest", "running")
    assert row.started_at and row.uptime_s is not None and row.uptime_s >= 0
    assert row.cpu_percent is not None and row.cpu_percent >= 0  # a synchronous first sample
    assert row.mem_bytes and row.mem_bytes > 0
    assert row.networks == "host" and row.full_id == c.id
    c.stop(timeout=0)
    row = row_of(backend, c.name)
    assert row.state == "exited" and row.cpu_percent is None and row.uptime_s is None


def test_events_ask_for_a_poll_and_stats_run_in_the_background(backend, run_container):
    wakes = []
    backend.wake = lambda: wakes.append(time.monotonic())
    c = run_container("sleep 600")
    backend.poll(frozenset())  # starts the event thread
    until(lambda: wakes, what="first wake after connecting")
    first = row_of(backend, c.name)  # returns at once; the stats round runs behind
    until(lambda: (r := row_of(backend, c.name)) and r.mem_bytes, what="stats arrive on a later poll")
    assert first.state == "running"
    before = len(wakes)
    c.stop(timeout=0)
    until(lambda: len(wakes) > before, what="wake on stop/die")
    before = len(wakes)
    c.start()
    until(lambda: len(wakes) > before, what="wake on start")


def test_actions_and_follow_ups(backend, run_container):
    runner = BackendRunner(backend)
    c = run_container("echo hello-from-container; sleep 600")
    row = row_of(backend, c.name)
    result = runner.perform("container.logs", row, readonly=True)  # reading is allowed read-only
    assert result.ok and isinstance(result.follow_up, OpenLog)
    until(lambda: b"hello" in c.logs(), what="first line")
    lines = [e.text for e in result.follow_up.source.events(tail=-1, follow=False, stop=threading.Event())]
    assert lines == ["hello-from-container"]
    shell = runner.perform("container.shell", row, readonly=False)
    assert isinstance(shell.follow_up, RunInteractive)
    assert runner.perform("container.shell", row, readonly=True).ok is False
    argv = shell.follow_up.argv
    out = subprocess.run(["script", "-qec", " ".join(f"'{a}'" for a in argv), "/dev/null"],
                         input=b"echo marker-$((40+2)); exit\n", capture_output=True, timeout=30)
    assert b"marker-42" in out.stdout  # a real interactive shell inside the container
    assert runner.perform("container.remove", row, readonly=True).ok is False
    assert row_of(backend, c.name) is not None
    removed = runner.perform("container.remove", row, readonly=False)
    assert removed.ok, removed.message
    assert row_of(backend, c.name) is None
    again = runner.perform("container.start", row, readonly=False)
    assert not again.ok and "no longer exists" in again.message


def test_log_sources_resolve_by_name_across_hosts(lab, backend, run_container):
    c = run_container("echo via-resolve; sleep 600")
    other = BackendRunner(DockerBackend(DockerSettings(name="nowhere", url="unix:///tmp/sdctr-no.sock")))
    source = resolve(f"container/{c.name}", [other, BackendRunner(backend)])
    until(lambda: b"via-resolve" in c.logs())
    assert [e.text for e in source.events(tail=1, follow=False, stop=threading.Event())] == ["via-resolve"]
    assert resolve(f"container/{c.name}@lab-docker", [BackendRunner(backend)]).name == f"container/{c.name}"
    with pytest.raises(UnknownLogSource):
        resolve(f"container/{c.name}@elsewhere", [BackendRunner(backend)])
    with pytest.raises(UnknownLogSource, match="not found on nowhere, lab-docker.*no such socket"):
        resolve("container/sdctr-absent", [other, BackendRunner(backend)])
    with pytest.raises(BackendError):
        other.backend.poll(frozenset({"containers"}))


def _cli(*args, config: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "servedeck", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=60, input=stdin)


def test_cli_verbs_and_status_json(lab, run_container, docker_client, tmp_path):
    config = tmp_path / "docker.yaml"
    config.write_text(f"backends:\n  docker:\n    - name: lab-docker\n      url: {lab.docker_url}\n")
    c = run_container("trap 'exit 0' TERM; echo from-cli; sleep 600 & wait")
    status = json.loads(_cli("status", "--json", config=config).stdout)
    entry = next(r for r in status["containers"] if r["name"] == c.name)
    assert list(entry)[1:10] == STATUS_FIELDS and entry["mem_bytes"] > 0
    ps = json.loads(_cli("docker", "ps", "--json", config=config).stdout)
    assert any(r["name"] == c.name and r["state"] == "running" for r in ps["containers"])
    until(lambda: b"from-cli" in c.logs())
    logs = _cli("docker", "logs", c.name, "--tail", "1", config=config)
    assert logs.returncode == 0 and logs.stdout == "from-cli\n"
    same = _cli("logs", f"container/{c.name}", config=config)
    assert same.stdout == "from-cli\n"
    refused = _cli("docker", "stop", c.name, config=config, stdin="")  # no terminal, no --yes
    assert refused.returncode == 3 and "--yes" in refused.stderr  # EXIT_REFUSED
    readonly = _cli("--readonly", "docker", "rm", c.name, "--yes", config=config)
    assert readonly.returncode == 3 and "read-only" in readonly.stderr
    assert docker_client.containers.get(c.name).status == "running"
    stopped = _cli("docker", "stop", c.name, "--yes", config=config)
    assert stopped.returncode == 0, stopped.stderr
    assert docker_client.containers.get(c.name).status == "exited"
    missing = _cli("docker", "start", "sdctr-absent", config=config)
    assert missing.returncode == 1 and "no container 'sdctr-absent'" in missing.stderr
