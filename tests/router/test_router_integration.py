"""The router backend against the lab's real SGLang router."""

from __future__ import annotations

import sys
from functools import partial

import pytest

import ssh_support
from servedeck.backends.base import Health
from servedeck.backends.router.backend import RouterBackend, RouterSettings
from servedeck.backends.runner import BackendRunner
from servedeck.lab.ports import http_ok, is_free, wait_until
from servedeck.lab.procs import spawn, stop
from support import PORT_OFFSET

pytestmark = pytest.mark.integration

until = partial(ssh_support.until, tries=60, pause=0.5)  # up to 30 s


def test_router_workers_remove_and_add_back(lab, tmp_path):
    """Its own stand-in worker, registered with the lab's router: the lab's workers are
    shared with tests that drain, cancel and restart them."""
    port = next(p for p in range(38950 + PORT_OFFSET // 10, 39050 + PORT_OFFSET // 10) if is_free(p))
    url = f"http://127.0.0.1:{port}"
    pid, started = spawn([sys.executable, "-m", "servedeck.lab.standin_sglang", "--port", str(port)],
                         tmp_path / "worker.log", cwd=tmp_path)
    backend = RouterBackend(RouterSettings(name="lab", url=lab.router_url))
    runner = BackendRunner(backend)
    try:
        assert wait_until(lambda: http_ok(f"{url}/health"), 30), "the stand-in worker did not start"
        assert runner.poll_once(frozenset()).state.health is Health.OK

        def rows():
            return {r.url: r for r in runner.poll_once(frozenset({"workers"})).panes.get("workers", ())}

        def ours_healthy():
            """our worker is registered and healthy"""
            current = rows()
            return current if url in current and current[url].healthy else None

        assert backend.add_worker(url).ok
        victim = until(ours_healthy)[url]
        assert victim.id and victim.model
        result = runner.perform("worker.remove", victim, readonly=False)
        assert result.ok, result.message
        until(lambda: url not in rows())
        assert backend.add_worker(url).ok
        until(ours_healthy)
    finally:
        leftover = {r.url: r for r in runner.poll_once(frozenset({"workers"})).panes.get("workers", ())}.get(url)
        if leftover is not None:
            runner.perform("worker.remove", leftover, readonly=False)
        runner.close()
        stop(pid, started)
