"""The Builds and Images panes in the cockpit (Pilot), on the real Docker Engine: a build
started by the verb in another process streams into the pane and is cancelled from it;
a failed build shows its failing step; the build log opens in the logs pane; an image
runs (after its dry-run is shown) and is removed (after a confirmation)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from dynamo_support import PREFIX, git
from servedeck.app.main_app import ServedeckApp
from servedeck.app.screens import ConfirmScreen, TextScreen
from servedeck.backends.dynamo.backend import DynamoBackend
from servedeck.backends.dynamo.session import BuildSession
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text
from shell_support import wait_for

pytestmark = pytest.mark.integration
SIZE = (200, 40)


def make_app(settings, start: str = "builds") -> ServedeckApp:
    loaded = load_text(f"ui: {{start_pane: {start}}}\n", "test.yaml")
    return ServedeckApp(loaded, fleet=Fleet([BackendRunner(DynamoBackend(settings))]))


def rows(app, pane: str) -> list:
    return [row for _, row in app._table(pane)._all]


def config_for(settings, path) -> str:
    path.write_text("backends:\n  dynamo:\n"
                    f"    - {{name: {settings.name}, url: '{settings.url}', state_dir: '{settings.state_dir}', "
                    "build_network: none}\n")
    return str(path)


async def test_verb_build_streams_into_a_separate_cockpit_and_is_cancelled_there(settings, checkout, tmp_path, cleanup):
    df = checkout / "container" / "Dockerfile.vllm"
    df.write_text(df.read_text().replace(
        "FROM runtime AS dev\n", "FROM runtime AS dev\nRUN for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 1; done; sleep 120\n"))
    git(checkout, "commit", "-qam", "slow")
    config = config_for(settings, tmp_path / "c.yaml")
    proc = subprocess.Popen([sys.executable, "-m", "servedeck", "dynamo", "build", "--config", config, "--repo",
                             str(checkout), "--tag", f"{PREFIX}-live:1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        app = make_app(settings)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(rows(app, "builds")) == 2, timeout=30)
            await wait_for(pilot, lambda: any(r.state == "running" and "sleep 120" in r.current
                                              for r in rows(app, "builds") if r.chain.startswith("2/")), timeout=180)
            table = app._table("builds")
            fw = next(r for r in rows(app, "builds") if r.chain.startswith("2/"))
            assert fw.via == "engine-api" and fw.progress != "—"
            step_seen = fw.progress
            table.move_cursor(row=table.get_row_index(table.row_id(settings.name, fw)))
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: next(r for r in rows(app, "builds") if r.id == fw.id).state == "cancelled",
                           timeout=60)
            assert step_seen.split("/")[1] == next(r for r in rows(app, "builds") if r.id == fw.id).progress.split("/")[1]
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
        cleanup += [f"dynamo-base:{BuildSession(settings, checkout).plan([]).version}"]


async def test_failed_build_log_and_image_actions(settings, checkout, api, cleanup):
    good = BuildSession(settings, checkout)
    assert good.build(["--framework", "none", "--tag", f"{PREFIX}-img:1"], emit=lambda x: None, err=lambda x: None) == 0
    cleanup.append(f"{PREFIX}-img:1")
    cleanup.append("container:" + f"{PREFIX}-prun")
    bad = BuildSession(settings, checkout)
    assert bad.build(["--framework", "none", "--target", "runtime", "--tag", f"{PREFIX}-img:2"],
                     emit=lambda x: None, err=lambda x: None) != 0
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app, "builds")) == 2, timeout=20)
        failed = next(r for r in rows(app, "builds") if r.state == "failed")
        assert "runtime" in failed.failure
        table = app._table("builds")
        assert "runtime" in str(table.get_cell(table.row_id(settings.name, failed), "failure"))
        # the newest invocation (the failed one) is on top; its build log opens in the logs pane
        table.focus()
        table.move_cursor(row=0)
        await pilot.pause()
        await pilot.press("l")
        await wait_for(pilot, lambda: app.current_pane == "logs")
        logs = app._table("logs")
        await wait_for(pilot, lambda: any("via buildkit-cli" in line.plain for line in logs.view.lines), timeout=10)

        app.show_pane("dynamo_images")
        await wait_for(pilot, lambda: any(r.tag == f"{PREFIX}-img:1" for r in rows(app, "dynamo_images")), timeout=20)
        images = app._table("dynamo_images")
        img = next(r for r in rows(app, "dynamo_images") if r.tag == f"{PREFIX}-img:1")
        assert (img.framework, img.target) == ("none", "dev") and "dynamo:latest-none" in img.more_tags
        images.focus()
        images.move_cursor(row=images.get_row_index(images.row_id(settings.name, img)))
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*f"--gpus none --rm FALSE --name {PREFIX}-prun -- sh -c 'echo hi; sleep 60'", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=10)
        shown = str(app.screen.question)
        assert f"--network host --shm-size=10G" in shown and f"--name {PREFIX}-prun {PREFIX}-img:1 sh -c echo hi; sleep 60" in shown
        await pilot.press("y")
        deadline = time.time() + 20
        state = None
        while time.time() < deadline and state != "running":
            found = api.containers(all=True, filters={"name": f"{PREFIX}-prun"})
            state = found[0]["State"] if found else None
            await pilot.pause(0.2)
        assert state == "running"
        await wait_for(pilot, lambda: f"{PREFIX}-prun" in next(
            r for r in rows(app, "dynamo_images") if r.tag == f"{PREFIX}-img:1").containers, timeout=20)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
        assert '"ai.dynamo.framework": "NONE"' in app.screen.body
        await pilot.press("escape")
        api.remove_container(f"{PREFIX}-prun", force=True)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not any(r.tag == f"{PREFIX}-img:1" for r in rows(app, "dynamo_images")), timeout=20)
    assert not api.images(name=f"{PREFIX}-img")
