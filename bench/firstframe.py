"""Time from process start to the first painted frame of a TUI, read from a real pty.

The program runs in a pseudo-terminal of a fixed size, as it would over SSH; the clock
stops when a marker string that only the first real frame contains reaches the terminal.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import struct
import subprocess
import termios
import fcntl
import time

MINIMAL_APP = """
from textual.app import App
from textual.widgets import Static
class Minimal(App):
    def compose(self):
        yield Static("MINIMAL-FIRST-FRAME")
Minimal().run()
"""


def first_frame_seconds(argv: list[str], marker: bytes, *, cols: int = 160, rows: int = 48,
                        timeout: float = 60.0, env: dict | None = None) -> float:
    return _run_to_frame(argv, marker, cols=cols, rows=rows, timeout=timeout, env=env)[0]


def rss_after_start_mib(argv: list[str], marker: bytes, *, settle_s: float = 5.0) -> float:
    """Resident memory (VmRSS) of the program `settle_s` after its first frame."""
    return _run_to_frame(argv, marker, settle_s=settle_s)[1]


def _vmrss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _run_to_frame(argv: list[str], marker: bytes, *, cols: int = 160, rows: int = 48, timeout: float = 60.0,
                  env: dict | None = None, settle_s: float | None = None) -> tuple[float, float | None]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows), **(env or {})}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=environment, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            remaining = timeout - (time.perf_counter() - started)
            if remaining <= 0:
                raise TimeoutError(f"no first frame from {argv[0]} within {timeout}s")
            ready, _, _ = select.select([master], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                raise RuntimeError(f"{argv[0]} exited before its first frame: {seen[-500:]!r}")
            seen += chunk
            if marker in seen:
                took = time.perf_counter() - started
                if settle_s is None:
                    return took, None
                settle_until = time.perf_counter() + settle_s
                while time.perf_counter() < settle_until:  # keep reading so its output never blocks it
                    if select.select([master], [], [], 0.2)[0]:
                        try:
                            os.read(master, 65536)
                        except OSError:
                            break
                return took, _vmrss_mib(proc.pid)
            seen = seen[-4096:]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
