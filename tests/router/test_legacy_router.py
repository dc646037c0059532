"""The legacy router API for real: sglang-router 0.1.9 (`/list_workers`, `/add_worker?url=`,
`/remove_worker?url=`, plain-text replies) in its own venv, cached between runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from servedeck.backends.base import BackendContext
from servedeck.backends.router.backend import RouterBackend, RouterSettings
from servedeck.lab.ports import http_ok, is_free, wait_until
from servedeck.lab.procs import spawn, stop
from support import PORT_OFFSET
from ssh_support import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VENV = Path.home() / ".cache" / "servedeck-test" / "router-0.1.9"


def legacy_python() -> Path:
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import sglang_router"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    done = subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "sglang-router==0.1.9"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"could not install sglang-router 0.1.9: {done.stderr[-300:]}"
    return python


def _own_workers(tmp_path, ports: list[int]) -> list[tuple[int, float]]:
    """Two stand-in workers of this test alone: the lab's are shared with tests that
    drain, cancel and restart them, and the legacy router waits at start for its workers."""
    started = []
    for port in ports:
        started.append(spawn([sys.executable, "-m", "servedeck.lab.standin_sglang", "--port", str(port)],
                             tmp_path / f"worker-{port}.log", cwd=tmp_path))
    for port in ports:
        assert wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health"), 30), f"stand-in worker {port} did not start"
    return started


@pytest.fixture
def legacy_router(lab, tmp_path) -> Iterator[tuple[str, list[str]]]:
    """(router URL, its two workers' URLs); the router starts with the first one."""
    free = (p for p in range(38800 + PORT_OFFSET // 10, 38900 + PORT_OFFSET // 10) if is_free(p))
    port, metrics_port, w0, w1 = next(free), next(free), next(free), next(free)
    workers = [f"http://127.0.0.1:{w0}", f"http://127.0.0.1:{w1}"]
    procs = _own_workers(tmp_path, [w0, w1])
    # Its metrics default to 29000, the current router's port in the lab: give it its own.
    pid, started = spawn([str(legacy_python()), "-m", "sglang_router.launch_router", "--host", "127.0.0.1",
                          "--port", str(port), "--worker-urls", workers[0],
                          "--prometheus-host", "127.0.0.1", "--prometheus-port", str(metrics_port)],
                         tmp_path / "legacy-router.log", cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: http_ok(f"{url}/list_workers"), 60), (tmp_path / "legacy-router.log").read_text()[-500:]
        yield url, workers
    finally:
        stop(pid, started)
        for worker_pid, worker_started in procs:
            stop(worker_pid, worker_started)


def test_legacy_router_list_add_remove(lab, legacy_router):
    legacy_router, workers = legacy_router
    backend = RouterBackend(RouterSettings(name="old", url=legacy_router), BackendContext())
    try:
        def urls():
            return {r.url for r in backend.poll(frozenset({"workers"}))["workers"]}

        assert urls() == {workers[0]}
        row = backend.poll(frozenset({"workers"}))["workers"][0]
        assert row.healthy is None and row.id == row.url  # this generation says neither health nor ids
        added = backend.perform("worker.add", None, workers[1])
        assert added.ok and "Successfully added" in added.message
        until(lambda: urls() == set(workers[:2]))
        removed = backend.perform("worker.remove", next(r for r in backend.poll(frozenset({"workers"}))["workers"]
                                                        if r.url == workers[1]))
        assert removed.ok, removed.message
        until(lambda: urls() == {workers[0]})
        assert not backend.perform("worker.add", None, "not a url; rm -rf /").ok
    finally:
        backend.close()


def test_legacy_router_through_configured_endpoints(lab, legacy_router):
    """The seed's `endpoints: list/add/remove`, pointed at the legacy paths explicitly."""
    legacy_router, workers = legacy_router
    settings = RouterSettings(name="old", url=legacy_router, api="legacy", endpoints={
        "list": "/list_workers", "add": "/add_worker", "remove": "/remove_worker"})
    backend = RouterBackend(settings, BackendContext())
    try:
        assert backend.perform("worker.add", None, workers[1]).ok
        rows = {r.url: r for r in backend.poll(frozenset({"workers"}))["workers"]}
        assert set(rows) == set(workers[:2])
        assert backend.perform("worker.remove", rows[workers[1]]).ok
        assert {r.url for r in backend.poll(frozenset({"workers"}))["workers"]} == {workers[0]}
    finally:
        backend.close()
