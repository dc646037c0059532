"""The router backend against the lab's real SGLang router."""

from __future__ import annotations

from functools import partial

import pytest
import ssh_support
from servedeck.backends.base import Health
from servedeck.backends.router.backend import RouterBackend, RouterSettings
from servedeck.backends.runner import BackendRunner

pytestmark = pytest.mark.integration

until = partial(ssh_support.until, tries=60, pause=0.5)  # up to 30 s




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

