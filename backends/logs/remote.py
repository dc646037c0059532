"""A file on an SSH host as a log source: `tail -F` over the host's shared connection.

The tail runs on the one paramiko connection the pool keeps for the host (no extra
login per file). The path is passed as an argument (quoted by the pool), so a path with
spaces, quotes or `$()` is read literally. When the connection drops the source says
so, waits with backoff and resumes with the file's last lines, like `tail -F` does
across rotations.
"""

from __future__ import annotations

import select
import threading
from typing import Iterator

from servedeck.backends.base import BackendError
from servedeck.backends.logs.files import LineSplitter
from servedeck.backends.logs.source import LogEvent, LogSource

_CHUNK = 65536
_MAX_STDERR = 64 * 1024  # the tail of tail's own complaints is enough to say what went wrong
_MAX_RETRY_S = 10.0


def _lines(tail: int) -> str:
    """`tail -n` argument: a negative `tail` means the whole file."""
    return "+1" if tail < 0 else str(tail)


class RemoteFileSource(LogSource):
    """`tail -n TAIL [-F] PATH` on an SSH host, line by line."""

    def __init__(self, pool, host: str, path: str, name: str | None = None):
        self.pool = pool
        self.host = host
        self.path = path
        self.name = name or f"file/{host}:{path}"

    def _argv(self, tail: int, follow: bool) -> list[str]:
        argv = ["tail", "-n", _lines(tail)]
        if follow:
            argv.append("-F")
        return [*argv, "--", self.path]

    def events(self, *, tail: int, follow: bool, stop: threading.Event) -> Iterator[LogEvent]:
        delay = 1.0
        first = True
        while not stop.is_set():
            try:
                channel = self.pool.open_command(self.host, self._argv(tail if first else 0, follow))
                # after a reconnect: only new lines (tail -F from the end), never a replay
            except BackendError as exc:
                yield LogEvent("status", f"cannot tail {self.path} on {self.host}: {exc.message}")
                if not follow:
                    return
                if stop.wait(delay):
                    return
                delay = min(_MAX_RETRY_S, delay * 2)
                continue
            if not first:
                yield LogEvent("status", f"resumed following {self.path} on {self.host}")
            first = False
            delay = 1.0
            try:
                yield from self._read(channel, stop)
                rc = channel.recv_exit_status() if channel.exit_status_ready() else None
            finally:
                channel.close()
            if stop.is_set():
                return
            if rc not in (None, 0):
                yield LogEvent("status", f"tail of {self.path} on {self.host} ended (exit status {rc}): "
                                         "the file may not exist")
                return
            if not follow:
                return
            yield LogEvent("status", f"connection to {self.host} lost; reconnecting")
            if stop.wait(delay):
                return

    def _read(self, channel, stop: threading.Event) -> Iterator[LogEvent]:
        splitter = LineSplitter()  # a line that never ends is cut, never held whole
        err = b""
        while not stop.is_set():
            if channel.recv_ready():
                data = channel.recv(_CHUNK)
                if not data:
                    break
                for line in splitter.feed(data):
                    yield LogEvent("line", line)
            elif channel.recv_stderr_ready():
                err = (err + channel.recv_stderr(_CHUNK))[-_MAX_STDERR:]
            elif channel.exit_status_ready() or channel.closed or channel.eof_received:
                if not channel.recv_ready():
                    break
            else:
                select.select([channel], [], [], 0.2)
        for line in splitter.flush():
            yield LogEvent("line", line)
        for line in err.decode("utf-8", "replace").splitlines():
            if line.strip() and "has become inaccessible" not in line:
                yield LogEvent("status", line.strip())


class LocalTailSource(LogSource):
    """The same `tail -F` on this machine (a cluster whose SLURM commands run locally)."""

    def __init__(self, path: str, name: str | None = None):
        self.path = path
        self.name = name or f"file/{path}"

    def events(self, *, tail: int, follow: bool, stop: threading.Event) -> Iterator[LogEvent]:
        import subprocess

        argv = ["tail", "-n", _lines(tail), *(["-F"] if follow else []), "--", self.path]
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL)
        except OSError as exc:
            yield LogEvent("status", f"cannot tail {self.path}: {exc.strerror or exc}")
            return
        assert proc.stdout is not None
        try:
            splitter = LineSplitter()
            while not stop.is_set():
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if not ready:
                    if proc.poll() is not None:
                        break
                    continue
                data = proc.stdout.read1(_CHUNK)  # type: ignore[attr-defined]
                if not data:
                    break
                for line in splitter.feed(data):
                    yield LogEvent("line", line)
            for line in splitter.flush():
                yield LogEvent("line", line)
        finally:
            proc.kill()
            proc.wait()
        if not stop.is_set() and proc.returncode not in (0, -9):
            yield LogEvent("status", f"tail of {self.path} ended: the file may not exist")
