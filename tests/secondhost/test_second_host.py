"""A second host for real (issue 15, part 6): the namespace host of farhost.py is reached
by servedeck's SSH pool as a host that is not the local one, is seen dropping off when its
veth goes down, and is reconnected by itself when it is up again."""

from __future__ import annotations

import subprocess
import time

import pytest

from servedeck.backends.base import BackendError


def test_a_host_in_its_own_namespace_is_reached_and_seen_dropping_off(far, far_pool):
    result = far_pool.run("far", ["ip", "-4", "-o", "addr", "show"], timeout=10)
    assert result.rc == 0, result.stderr
    assert far.addr in result.stdout  # the command ran on the other host's network stack
    here = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    assert far.addr not in here and far.host_addr in here

    far.down()  # the host drops off the network
    far_pool.drop("far")
    with pytest.raises(BackendError) as info:
        far_pool.run("far", ["true"], timeout=5)
    assert far.addr in info.value.message and "\n" not in info.value.message

    far.up()  # and comes back: the pool reconnects by itself
    deadline = time.monotonic() + 30
    while True:
        try:
            assert far_pool.run("far", ["true"], timeout=5).rc == 0
            break
        except BackendError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_its_sessions_see_its_own_engine_and_controller(far, far_pool):
    """What the ssh:// Docker host and the SLURM backend rely on: sessions there name the
    namespace's engine and controller, not this machine's."""
    result = far_pool.run("far", ["sh", "-c", 'echo "$DOCKER_HOST $SLURM_CONF"'], timeout=10)
    assert result.stdout.split() == [f"unix://{far.docker_sock}", str(far.slurm_conf)]
    names = far_pool.run("far", ["docker", "ps", "--format", "{{.Names}}"], timeout=30)
    assert names.rc == 0 and names.stdout.split() == ["far-ticker"], names.stderr
