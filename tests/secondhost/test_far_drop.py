"""The host dropping off the network (its veth taken down) with the docker backend, the
slurm backend and a tunnel all using it through one SSH pool, as the cockpit has them:
each shows down with one clear line (no traceback, nothing logged as an error), and each
comes back by itself once the veth is up again."""

from __future__ import annotations

import logging

import pytest

from farhost import TICKER, WORKER_PORT
from servedeck.backends.base import BackendContext, Health
from servedeck.backends.docker.backend import DockerBackend, DockerSettings
from servedeck.backends.runner import BackendRunner
from servedeck.backends.slurm.backend import SlurmBackend, SlurmSettings
from ssh_support import until
from test_far_tunnel import PORT, http_get, row, tunnels

pytestmark = pytest.mark.integration


def test_docker_slurm_and_a_tunnel_show_down_and_come_back_by_themselves(far, far_pool, caplog):
    caplog.set_level(logging.ERROR)
    context = BackendContext(extras={"ssh": far_pool})
    docker = BackendRunner(DockerBackend(DockerSettings(name="far-docker", url=far.docker_url, timeout=3), context))
    slurm = BackendRunner(SlurmBackend(SlurmSettings(name="far-slurm", ssh="far", timeout=3), context))
    tun = tunnels(far_pool)
    runners = {"containers": docker, "jobs": slurm}
    try:
        tun.open("far-worker").wait_up(20)
        for pane, runner in runners.items():
            assert runner.poll_once(frozenset({pane})).state.health == Health.OK, runner.snapshot.state
        assert any(r.name == TICKER for r in docker.snapshot.panes["containers"])

        far.down()
        for pane, runner in runners.items():
            state = until(lambda: (s := runner.poll_once(frozenset({pane})).state).health == Health.DOWN and s)
            assert "\n" not in state.message and not state.message.startswith("unexpected error"), state.message
            assert far.addr in state.message, state.message  # names the host that went away
        gone = until(lambda: (r := row(tun)).state != "up" and r)
        assert gone.state in ("reconnecting", "down") and gone.error and "\n" not in gone.error
        with pytest.raises(OSError):
            http_get(PORT, "/health")  # refused or cut while the far end is away

        far.up()  # no action from here on: each finds the host again by itself
        for pane, runner in runners.items():
            until(lambda: runner.poll_once(frozenset({pane})).state.health == Health.OK)
        assert any(r.name == TICKER and r.state == "running" for r in docker.snapshot.panes["containers"])
        until(lambda: row(tun).state == "up")
        request, response = http_get(PORT, "/health")
        assert b" 200 " in response.split(b"\r\n")[0]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    finally:
        tun.close()
        docker.backend.close()
        slurm.backend.close()
