"""Hands out local ports from configured ranges, skipping ports in use on this machine.

A port counts as in use when something listens on it (read from /proc/net/tcp*) or it
cannot be bound; ports this allocator handed out stay reserved until released, so two
tunnels opened at once never get the same port.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Iterable


class NoFreePort(Exception):
    """Every port of the configured ranges is taken."""


def listening_sockets() -> list[tuple[int, str]]:
    """(port, socket inode) of every TCP socket in LISTEN state, read from /proc."""
    found: list[tuple[int, str]] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A":  # TCP_LISTEN
                found.append((int(fields[1].rsplit(":", 1)[1], 16), fields[9]))
    return found


def listening_ports() -> set[int]:
    return {port for port, _ in listening_sockets()}


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Thread-safe; `ranges` are inclusive (low, high) pairs tried in order."""

    def __init__(self, ranges: Iterable[tuple[int, int]], host: str = "127.0.0.1"):
        self.ranges = [(int(lo), int(hi)) for lo, hi in ranges]
        for lo, hi in self.ranges:
            if not (0 < lo <= hi < 65536):
                raise ValueError(f"bad port range {lo}-{hi}")
        self.host = host
        self._taken: set[int] = set()
        self._lock = threading.Lock()

    def allocate(self) -> int:
        with self._lock:
            busy = listening_ports() | self._taken
            for lo, hi in self.ranges:
                for port in range(lo, hi + 1):
                    if port not in busy and bindable(port, self.host):
                        self._taken.add(port)
                        return port
        spans = ", ".join(f"{lo}-{hi}" for lo, hi in self.ranges) or "none configured"
        raise NoFreePort(f"no free port in {spans}")

    def release(self, port: int) -> None:
        with self._lock:
            self._taken.discard(port)
