"""The second host (farhost.FarHost), started once for this folder and torn down after it;
every test finds it on the network (a test that took it off puts it back)."""

from __future__ import annotations

from typing import Iterator

import pytest

from farhost import FarHost, Refused
from servedeck.backends.ssh.pool import SSHPool
from support import PORT_OFFSET


@pytest.fixture(scope="session")
def far(tmp_path_factory) -> Iterator[FarHost]:
    host = FarHost(tmp_path_factory.mktemp("far"), PORT_OFFSET)
    try:
        host.start()
    except Refused as exc:
        host.stop()
        pytest.skip(str(exc))
    except BaseException:
        host.stop()
        raise
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(autouse=True)
def _far_back_on_the_network(request) -> Iterator[None]:
    yield
    if "far" in request.fixturenames:
        request.getfixturevalue("far").up()


@pytest.fixture
def far_pool(far) -> Iterator[SSHPool]:
    pool = SSHPool({"far": far.ssh_host()})
    yield pool
    pool.close()
