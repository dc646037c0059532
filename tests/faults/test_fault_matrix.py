"""Each lab service killed with the cockpit open (under Pilot): its pane and `status
--json` show it down within two refresh intervals; once it is restored it shows ok again
within 5 s without a key pressed, and no exception ever reaches the screen."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

import fault_serverless  # noqa: F401  (appends the Pylet, sllm head and tuner entries)
from conftest import INTERVAL
from fault_matrix import FAULTS, Fault
from servedeck.app.main_app import ServedeckApp
from servedeck.config import load_config

pytestmark = pytest.mark.integration

SETTLE_S = 90.0  # a fresh lab: exporters scraped, rows present, backends ok
RECOVER_S = 5.0  # from the moment the restored service answers


def status_json(config: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "servedeck", "status", "--json", "--config", config],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    return done.returncode, json.loads(done.stdout)


async def until(pilot, predicate, timeout: float) -> float | None:
    """Seconds until `predicate()` held, or None if it did not within `timeout`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            return None
        await pilot.pause(0.1)
    return loop.time() - start


def pane_text(app, pane: str) -> str:
    """What the pane draws: its header line and every cell of its table."""
    parts = [str(app.query_one(f"#pane-{pane} .pane-header").render())]
    table = app._table(pane)
    for i in range(getattr(table, "row_count", 0)):
        parts += [getattr(cell, "plain", str(cell)) for cell in table.get_row_at(i)]
    return " ".join(parts)


def no_exception(app) -> str:
    """"" when the app runs and nothing raised into it; else what went wrong."""
    if getattr(app, "_exception", None) is not None:
        return f"the app raised {app._exception!r}"
    if not app.is_running:
        return "the app stopped"
    return ""


@pytest.mark.parametrize("fault", FAULTS, ids=[f.service for f in FAULTS])
async def test_service_killed_and_restored(fault: Fault, fault_lab, fault_config):
    if fault.prepare is not None:
        await asyncio.to_thread(fault.prepare, fault_lab, fault_config)
    try:
        seen, back = await killed_and_restored(fault, fault_lab, fault_config)
    finally:
        if fault.cleanup is not None:
            await asyncio.to_thread(fault.cleanup, fault_lab)
    # outside the app: Textual captures what is printed while it runs
    print(f"fault {fault.service}: shown down {seen:.1f} s after the kill (or after it was noticed), "
          f"ok {back:.1f} s after it answered")


async def killed_and_restored(fault: Fault, fault_lab, fault_config) -> tuple[float, float]:
    app = ServedeckApp(load_config(fault_config))
    async with app.run_test(size=(160, 45)) as pilot:
        app.show_pane(fault.pane)
        shows = lambda state: fault.shows(app.snapshots, fault_lab, state)  # noqa: E731
        assert await until(pilot, lambda: shows("ok"), SETTLE_S) is not None, \
            f"{fault.service} never showed ok before the fault: {app.snapshots}"

        fault.do_kill(fault_lab)
        try:
            if fault.noticed is not None:
                noticed = await until(pilot, lambda: fault.noticed(fault_lab), 30)
                assert noticed is not None, f"{fault.service} down was never recorded where the cockpit reads it"
            seen = await until(pilot, lambda: shows("down"), 2 * INTERVAL)
            assert seen is not None, (f"{fault.service} killed: not shown down within {2 * INTERVAL:g} s: "
                                      f"{ {n: s.state for n, s in app.snapshots.items()} }")
            drawn = await until(pilot, lambda: any(word in pane_text(app, fault.pane) for word in fault.drawn), 1.0)
            assert drawn is not None, (f"the {fault.pane} pane does not say {' or '.join(fault.drawn)}: "
                                       f"{pane_text(app, fault.pane)[:500]}")
            code, doc = await asyncio.to_thread(status_json, fault_config)
            assert fault.status_shows(doc, fault_lab), f"status --json does not show {fault.service} down: {doc['backends']}"
            assert code == fault.status_code, (code, doc["backends"])
        finally:
            fault.do_restore(fault_lab)
        assert await until(pilot, lambda: fault.ready(fault_lab), 60) is not None, f"{fault.service} did not come back"
        back = await until(pilot, lambda: shows("ok"), RECOVER_S)
        assert back is not None, (f"{fault.service} answers again, but the cockpit did not show it ok within "
                                  f"{RECOVER_S:g} s: { {n: s.state for n, s in app.snapshots.items()} }")
        if fault.after_restore is not None:
            problem = fault.after_restore(app.snapshots, fault_lab)
            assert problem == "", problem
        assert no_exception(app) == ""
    return seen, back
