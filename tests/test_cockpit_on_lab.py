"""The foundation's promise end to end: on the lab, status --json and the cockpit show
every backend live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from servedeck.app.main_app import ServedeckApp
from servedeck.config import load_config
from support import router_urls

pytestmark = pytest.mark.integration


def status_json(lab) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "servedeck", "status", "--json", "--config", str(lab.config_path)],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    return result.returncode, json.loads(result.stdout)


def test_status_json_reports_the_lab(lab):
    for _ in range(30):  # Prometheus discovers its scrape targets a few seconds after start
        code, doc = status_json(lab)
        if {"prometheus", "node", "dcgm", "router"} <= {t["job"] for t in doc.get("targets", []) if t["health"] == "up"}:
            break
        time.sleep(1)
    assert code in (0, 5), doc["backends"]  # 5: degraded (see below), never 4 (down)
    assert {"docker", "prometheus", "router", "slurm"} <= {b["kind"] for b in doc["backends"]}
    # Other tests drain workers of this shared lab: degraded is possible, down is not.
    states = {b["name"]: (b["state"], b["error"]) for b in doc["backends"]}
    assert all(state in ("ok", "degraded") for state, _ in states.values()), states
    assert {w["url"] for w in doc["workers"]} <= set(router_urls(lab))
    up = {t["job"] for t in doc["targets"] if t["health"] == "up"}
    assert {"prometheus", "node", "dcgm", "router"} <= up  # workers may have been drained


async def test_cockpit_shows_live_backend_states_on_the_lab(lab):
    app = ServedeckApp(load_config(str(lab.config_path)))
    async with app.run_test(size=(140, 30)) as pilot:
        async def all_ok() -> bool:  # reachable: other tests may have drained lab workers
            return all(s.state.health.value in ("ok", "degraded") for s in app.snapshots.values())

        for _ in range(200):
            if await all_ok():
                break
            await pilot.pause(0.1)
        assert await all_ok(), {n: s.state for n, s in app.snapshots.items()}
        await pilot.press("colon", *"workers", "enter")
        workers = app._table("workers")
        router = next(n for n, snap in app.snapshots.items() if snap.kind == "router")

        def shown_as_polled() -> bool:  # the pane shows exactly what the router backend returned
            polled = app.snapshots[router].panes.get("workers")
            return polled is not None and {r.url for _, r in workers._rows.values()} == {w.url for w in polled}

        for _ in range(100):
            if shown_as_polled():
                break
            await pilot.pause(0.1)
        assert shown_as_polled()
        assert {r.url for _, r in workers._rows.values()} <= set(router_urls(lab))
