"""Building and driving the cockpit in Pilot tests, over in-memory backends."""

from __future__ import annotations

import asyncio

from fakes import MemoryBackend
from servedeck.app.main_app import ServedeckApp
from servedeck.backends.base import BackendSettings
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text


def make_app(
    config: str = "", *, readonly: bool = False, interval: float | None = None, rows=("a", "b"), clock=None
):
    loaded = load_text(config or "{}\n", "test.yaml")
    backend = MemoryBackend(BackendSettings(name="mem", interval=interval), rows=rows)
    runner = BackendRunner(backend, clock=clock) if clock else BackendRunner(backend)
    extra = {"clock": clock} if clock else {}
    app = ServedeckApp(loaded, readonly=readonly, fleet=Fleet([runner]), **extra)
    return app, backend


async def wait_for(pilot, predicate, timeout: float = 5.0) -> None:
    """Wait for the app to reach a state, polling the UI loop (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await pilot.pause(0.05)
