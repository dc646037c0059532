"""Ports on 127.0.0.1: is one free, which ones listen, waiting for a service to answer."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Callable

from servedeck.backends.ssh.ports import bindable, listening_ports  # noqa: F401  (lab callers use both)


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on `port` (a socket in TIME_WAIT does not count)."""
    return bindable(port, host)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - lab URLs only
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1,
               alive: Callable[[], bool] | None = None) -> bool:
    """Polls `check` until it holds or `timeout` passes; gives up early once `alive` is False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if alive is not None and not alive():
            return check()
        time.sleep(interval)
    return check()


def wait_free(ports: list[int], timeout: float = 10.0) -> list[int]:
    """Waits for `ports` to stop listening; returns those still busy."""
    wait_until(lambda: not (set(ports) & listening_ports()), timeout)
    return sorted(set(ports) & listening_ports())
