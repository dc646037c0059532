"""The Pylet head stops answering: the sllm head reports pylet_connected false (degraded in
servedeck), the Pylet backend is down; both come back by themselves once it answers."""

from __future__ import annotations

import os
import signal

import pytest

from servedeck.app.main_app import ServedeckApp
from servedeck.config import load_config
from shell_support import wait_for

pytestmark = pytest.mark.integration


async def test_pylet_head_down_and_back(stack):
    head = stack.service("pylet-head")
    assert head is not None and head.pid
    app = ServedeckApp(load_config(str(stack.config_path)))
    async with app.run_test(size=(160, 40)) as pilot:
        app.show_pane("pylet_workers")
        pylet, sllm = app.fleet.by_name("lab-pylet"), app.fleet.by_name("lab-sllm")
        await wait_for(pilot, lambda: pylet.snapshot.state.health.value in ("ok", "degraded")
                       and sllm.snapshot.state.health.value == "ok", timeout=20)
        os.kill(head.pid, signal.SIGSTOP)  # a hung head: the port is open, nothing answers
        try:
            await wait_for(pilot, lambda: pylet.snapshot.state.health.value == "down", timeout=30)
            assert "did not answer" in pylet.snapshot.state.message
            await wait_for(pilot, lambda: "pylet_connected: false" in sllm.snapshot.state.message, timeout=30)
            assert sllm.snapshot.state.health.value == "degraded"
            app.show_pane("sllm_heads")
            await wait_for(pilot, lambda: any(r.pylet_connected is False
                                              for _, r in app._table("sllm_heads")._rows.values()), timeout=30)
            header = str(app.query_one("#pane-pylet_workers .pane-header").render())
            assert "showing last data" in header
        finally:
            os.kill(head.pid, signal.SIGCONT)
        await wait_for(pilot, lambda: pylet.snapshot.state.health.value in ("ok", "degraded")
                       and "not answer" not in pylet.snapshot.state.message, timeout=30)
        await wait_for(pilot, lambda: sllm.snapshot.state.health.value == "ok", timeout=30)
        assert any(r.pylet_connected is True for _, r in app._table("sllm_heads")._rows.values())
