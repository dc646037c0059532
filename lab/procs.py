"""Starting and stopping lab processes by pid, never by name.

A process is identified by its pid plus its kernel start time (/proc/PID/stat field 22):
some programs rewrite their own cmdline (the router shows up as `sglang::router`), but the
start time of a pid never changes, so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence

Log = Callable[[str], None]

# Popen objects of the processes this Python started, kept so that they are reaped quietly
# (no ResourceWarning, no zombie) when the same process also runs `down` (the tests do).
_children: dict[int, subprocess.Popen[bytes]] = {}


def start_time(pid: int) -> int | None:
    """The kernel start time of `pid`, or None if there is no such (live) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished: it only waits to be reaped
        return None
    return int(fields[19])


def is_ours(pid: int | None, started: int | None) -> bool:
    """True while `pid` is alive and is the very process we started."""
    return pid is not None and started is not None and start_time(pid) == started


def spawn(argv: Sequence[str], log_path: Path, *, cwd: Path, env: dict[str, str] | None = None,
          user: str | None = None) -> tuple[int, int]:
    """Starts `argv` in its own session, output appended to `log_path`; returns (pid, start time)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by the lab, never from user text
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, env={**os.environ, **(env or {})}, start_new_session=True, user=user,
        )
    _children[proc.pid] = proc
    started = None
    for _ in range(50):
        started = start_time(proc.pid)
        if started is not None:
            break
        time.sleep(0.01)
    return proc.pid, started or 0


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _children[pid]
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(pid: int, started: int, *, grace: float = 10.0) -> bool:
    """SIGTERM our process, then SIGKILL its session if it lingers; True once it is gone."""
    if not is_ours(pid, started):
        _reap(pid)
        return True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_ours(pid, started):
            break
        time.sleep(0.05)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)  # the session we created for it: its helpers too
        except (ProcessLookupError, PermissionError):
            pass
        for _ in range(100):
            _reap(pid)
            if not is_ours(pid, started):
                break
            time.sleep(0.05)
    _kill_session_leftovers(pid)
    return not is_ours(pid, started)


def _kill_session_leftovers(sid: int) -> None:
    """Children left in the session we created (e.g. containerd under dockerd) go too."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):  # field 6: session id
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def run(argv: Sequence[str], timeout: float = 10.0, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str] | None:
    """Runs a short command; None when it cannot be run at all (missing, timed out)."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,  # noqa: S603
                              env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log, to put in an error message."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])
