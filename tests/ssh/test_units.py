"""Pure logic of the SSH layer: the port allocator and the reconnect backoff."""

from __future__ import annotations

import socket

import pytest
from servedeck.backends.ssh.pool import _Backoff
from servedeck.backends.ssh.ports import NoFreePort, PortAllocator

HOST = socket.gethostname().split(".")[0]


def test_port_allocator_skips_ports_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        alloc = PortAllocator([(taken, taken + 1)])
        first = alloc.allocate()
        assert first != taken
        with pytest.raises(NoFreePort):
            alloc.allocate()  # taken + 1 was handed out already
        alloc.release(first)
        assert alloc.allocate() == first


def test_backoff_doubles_and_resets():
    now = [0.0]
    backoff = _Backoff(clock=lambda: now[0])
    assert backoff.remaining() == 0
    for expected in (1, 2, 4, 8, 16, 30, 30):
        backoff.failed("down", "")
        assert backoff.remaining() == expected
    backoff.succeeded()
    assert backoff.remaining() == 0

