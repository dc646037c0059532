"""An `ssh://` Docker host for real: a second Docker Engine on the namespace host, reached
by the docker backend through `ssh://root@<its address>` over servedeck's SSH pool (host
key verified against the configured known_hosts; an unknown key is refused). The
containers pane lists the container running there, stops it after a confirm (the row goes
to exited from the far engine's die event), and its log streams from that host."""

from __future__ import annotations

import threading
import time

import pytest

from farhost import TICKER
from servedeck.app.main_app import ServedeckApp
from servedeck.app.screens import ConfirmScreen
from servedeck.backends.base import BackendContext, BackendError, find_action
from servedeck.backends.docker.backend import DockerBackend, DockerSettings
from servedeck.config import load_text
from shell_support import wait_for

pytestmark = pytest.mark.integration
SIZE = (160, 36)


def backend(far, pool=None, **settings) -> DockerBackend:
    context = BackendContext(extras={"ssh": pool} if pool is not None else {})
    return DockerBackend(DockerSettings(name="far-docker", url=far.docker_url, **settings), context)


def test_the_far_engine_is_listed_and_only_it(far, far_pool):
    b = backend(far, far_pool)
    try:
        rows = b.poll(frozenset({"containers"}))["containers"]
        far_ids = set(far.docker("ps", "-aq", "--no-trunc").stdout.split())
        assert {r.full_id for r in rows} == far_ids  # none of this machine's shared engine
        ticker = next(r for r in rows if r.name == TICKER)
        assert ticker.state == "running" and ticker.host == "far-docker" and ticker.image.startswith("sd-far-ticker")
    finally:
        b.close()


def test_an_unknown_host_key_is_refused_by_default(far):
    """No ssh: entry for that address: a pool of its own with the defaults, which refuses a
    host key no known_hosts file lists (never trust on first use unless configured)."""
    b = backend(far)
    try:
        with pytest.raises(BackendError) as info:
            b.poll(frozenset({"containers"}))
        assert "unknown host key" in info.value.message and "refused" in info.value.message
        assert "\n" not in info.value.message
    finally:
        b.close()


def test_its_log_streams_from_the_far_host(far, far_pool):
    b = backend(far, far_pool)
    stop = threading.Event()
    try:
        row = b.find(TICKER)
        assert row is not None
        seen: list[str] = []
        for event in b.container_log(row.full_id, row.name).events(tail=3, follow=True, stop=stop):
            if event.kind == "line":
                seen.append(event.text)
            if len(seen) >= 6:  # three of the tail and three that arrived while following
                break
        assert all(line.startswith("far tick ") for line in seen)
        numbers = [int(line.split()[-1]) for line in seen]
        assert numbers == sorted(numbers) and len(set(numbers)) == 6
    finally:
        stop.set()
        b.close()


def select(app) -> None:
    table = app._table("containers")
    key = next(k for k, (_, row) in table._rows.items() if row.name == TICKER)
    table.move_cursor(row=table.get_row_index(key))


async def test_the_pane_lists_follows_and_stops_a_far_container_after_confirm(far):
    assert find_action(DockerBackend, "container.stop").confirm
    ssh = far.ssh_host()
    config = (f"ui: {{start_pane: containers}}\n"
              f"ssh:\n  far: {{hostname: '{ssh.hostname}', user: root, key_file: '{ssh.key_file}', "
              f"known_hosts: '{ssh.known_hosts}', connect_timeout_s: 3, keepalive_s: 1}}\n"
              f"backends:\n  docker:\n    - {{name: far-docker, url: '{far.docker_url}', interval: 3600}}\n")
    app = ServedeckApp(load_text(config, "test.yaml"))

    def state() -> str | None:
        return next((row.state for _, row in app._table("containers")._rows.values() if row.name == TICKER), None)

    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: state() == "running", 30)
            select(app)
            await pilot.press("l")  # its log, streamed from the far engine over ssh
            await wait_for(pilot, lambda: app.current_pane == "logs")
            logs = app._table("logs")
            await wait_for(pilot, lambda: any(line.plain.startswith("far tick ") for line in logs.view.lines), 30)
            assert logs.title.startswith(f"container/{TICKER}")
            await pilot.press(str(app.pane_keys.index("containers") + 1))
            select(app)
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            # the poll interval is an hour: only the far engine's die event refreshes the row
            await wait_for(pilot, lambda: state() == "exited", 60)
            assert far.container_state() == "exited"
    finally:
        far.docker("start", TICKER, check=False)


def test_more_containers_than_sshd_allows_sessions_are_sampled(far, far_pool):
    """Stats of a dozen running containers are sampled in parallel, yet the far sshd's
    default MaxSessions (10 per connection) is never exceeded: requests share a few."""
    names = [f"far-many-{i}" for i in range(12)]
    for name in names:
        far.docker("run", "-d", "--name", name, "--network", "none", "sd-far-ticker:1", "sh", "-c",
                   'trap "exit 0" TERM; while true; do sleep 1 & wait; done')
    b = backend(far, far_pool)
    try:
        rows = {r.name: r for r in b.poll(frozenset({"containers"}))["containers"]}
        assert all(rows[n].state == "running" and rows[n].mem_bytes for n in names), rows
        tail = far_pool.run("far", ["true"], timeout=10)  # the connection still opens sessions
        assert tail.rc == 0
    finally:
        b.close()
        far.docker("rm", "-f", *names, check=False)
