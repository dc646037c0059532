"""The Experiments pane attached to a running tuner (real Docker, stand-in image): rows
and header, the score plot, stop, the last state while stopped, resume, results, log."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import our_containers
from servedeck.backends.base import OpenLog, PartialPoll, ShowText
from servedeck.backends.tuner.backend import TunerBackend, TunerBackendSettings
from servedeck.backends.tuner.plot import ScatterRequest
from tuner_support import state_of, write_config, write_task

pytestmark = pytest.mark.integration


def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # not there yet (the tuner is starting); said if it never comes
            value, error = None, exc
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last error: {error!r})")


def _rows(backend):
    return backend.poll(frozenset({"experiments"}))["experiments"]


async def test_pane_follows_stops_and_resumes_a_tuning(tmp_path: Path, tuner_docker, lab) -> None:
    cfg = write_config(tmp_path, lab.docker_url)
    task = write_task(tmp_path, "panetask", {"mem-fraction-static": [0.95, 0.7, 0.8, 0.85]},
                      benchmark={"num_concurrency": [1], "max_requests_per_iteration": 12})
    proc = subprocess.Popen([sys.executable, "-m", "servedeck", "tune", "run", str(task), "--config", str(cfg), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    backend = TunerBackend(TunerBackendSettings(name="tuner", state_dir=str(tmp_path / "state"), config=str(cfg)))
    try:
        def exp2_benchmarking():
            rows = _rows(backend)
            return rows if len(rows) >= 3 and rows[2].phase == "benchmarking" else None

        rows = until(exp2_benchmarking, 120, "exp2 benchmarking in the pane")
        header, first, second = rows[:3]
        assert "panetask: 1 of 4 done" in header.parameters and header.phase == "running"
        assert first.phase == "failed" and first.score == "worst" and "exited" in first.why
        assert second.parameters == "mem-fraction-static=0.7" and second.phase_at

        from servedeck.app.main_app import ServedeckApp
        from servedeck.backends.fleet import Fleet
        from servedeck.backends.runner import BackendRunner
        from servedeck.config import load_text
        from servedeck.widgets.panes.experiments import ScatterScreen

        app = ServedeckApp(load_text("{}\n", "t.yaml"), fleet=Fleet([BackendRunner(backend)]))
        async with app.run_test(size=(170, 30)) as pilot:
            await pilot.press("colon", *"experiments", "enter")
            await pilot.pause(0.3)
            assert app.current_pane == "experiments"
            table = app.query_one("#table-experiments")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while table.row_count < 3 and loop.time() < deadline:
                await pilot.pause(0.1)
            cells = [str(c) for r in range(table.row_count) for c in table.get_row_at(r)]
            assert "mem-fraction-static=0.95" in cells and "failed" in cells
            await pilot.press("g")
            await pilot.pause(0.3)
            await pilot.press(*"mem-fraction-static", "enter")
            deadline = loop.time() + 10
            while not isinstance(app.screen, ScatterScreen) and loop.time() < deadline:
                await pilot.pause(0.1)
            assert isinstance(app.screen, ScatterScreen)
            await pilot.press("escape")

        stopped = backend.perform("tuner.stop", None)
        assert stopped.ok
        assert proc.wait(60) == 1  # stopped, not finished
    finally:
        if proc.poll() is None:
            proc.kill()
    assert our_containers(tuner_docker) == []
    with pytest.raises(PartialPoll) as last:
        _rows(backend)
    assert "not running" in last.value.message and last.value.panes["experiments"][0].phase == "stopped"

    resumed = backend.perform("tuner.resume", None)
    assert resumed.ok, resumed.message
    until(lambda: state_of(tmp_path, "panetask")["status"] == "finished", 180, "the resumed tuning to finish")
    exps = state_of(tmp_path, "panetask")["experiments"]
    assert [e["status"] for e in exps] == ["failed", "success", "success", "success"]
    assert exps[0]["attempts"] == 1  # the failed one is finished: not run again

    with pytest.raises(PartialPoll):  # the pane polls: the finished tuning, from its state file
        _rows(backend)
    plot = backend.perform("tuner.plot", None, "mem-fraction-static").follow_up
    assert isinstance(plot, ScatterRequest) and len(plot.points) == 3 and [x for x, _ in plot.failed] == [0.95]
    best = min(plot.points, key=lambda p: p[1])
    assert plot.best_id == best[2]
    assert not backend.perform("tuner.plot", None, "nope").ok
    text = backend.perform("tuner.results", None).follow_up
    assert isinstance(text, ShowText) and "4/4 done" in text.text
    log = backend.perform("tuner.log", None).follow_up
    assert isinstance(log, OpenLog) and Path(log.source.path).read_text().count("exp1 failed") == 1
    assert our_containers(tuner_docker) == []
