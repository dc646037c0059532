"""Local log files with `tail -F` semantics, and the byte-to-line splitting every source uses.

A file that does not exist yet, disappears, is rotated (a new inode at the path) or is
truncated (smaller than what was read) is announced with a status event and followed
again when it can be. Bytes become lines here: invalid UTF-8 is decoded with replacement
characters, over-long lines are cut, and a partial last line is held back until its
newline arrives (or, when following, until the writer has been quiet for a moment).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import BinaryIO, Iterator

from servedeck.backends.logs.source import LogEvent, LogSource

MAX_LINE_BYTES = 16 * 1024
CUT_MARK = " …[line cut]"
CHUNK = 256 * 1024


class LineSplitter:
    """Feed bytes, get complete lines; over-long lines are cut to `max_bytes`."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES):
        self.max_bytes = max_bytes
        self._partial = bytearray()
        self._cutting = False  # dropping the rest of a line already emitted cut

    @property
    def pending(self) -> bool:
        return bool(self._partial)

    def _line(self, data: bytes | bytearray, cut: bool = False) -> str:
        if data.endswith(b"\r"):
            data = data[:-1]
        text = bytes(data[: self.max_bytes]).decode("utf-8", errors="replace")
        return text + CUT_MARK if cut or len(data) > self.max_bytes else text

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        parts = data.split(b"\n")
        for part in parts[:-1]:
            if self._cutting:
                self._cutting = False
                continue
            if self._partial:
                self._partial += part
                lines.append(self._line(self._partial))
                self._partial.clear()
            else:
                lines.append(self._line(part))
        last = parts[-1]
        if last and not self._cutting:
            self._partial += last
            if len(self._partial) > self.max_bytes:
                lines.append(self._line(self._partial, cut=True))
                self._partial.clear()
                self._cutting = True
        return lines

    def flush(self) -> list[str]:
        """The held partial line, if any (the stream ended or went quiet)."""
        if not self._partial:
            return []
        line = self._line(self._partial)
        self._partial.clear()
        return [line]

    def reset(self) -> None:
        self._partial.clear()
        self._cutting = False


def tail_offset(f: BinaryIO, size: int, lines: int) -> int:
    """Byte offset where the last `lines` lines of a file start (negative: the whole file)."""
    if lines < 0 or size == 0:
        return 0
    if lines == 0:
        return size
    block, pos, newlines = 64 * 1024, size, 0
    f.seek(size - 1)
    if f.read(1) == b"\n":
        newlines = -1  # the final newline ends the last line, it does not start one
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step)
        for i in range(len(data) - 1, -1, -1):
            if data[i] == 0x0A:
                newlines += 1
                if newlines == lines:
                    return pos + i + 1
    return 0


class FileSource(LogSource):
    """`file/PATH`: a local file, followed like `tail -F`."""

    poll_interval = 0.2  # seconds between looks at an idle file
    partial_flush_s = 0.5  # a partial line is shown after the writer was quiet this long

    def __init__(self, path: Path, name: str):
        self.path = Path(path)
        self.name = name

    def _status(self, text: str) -> LogEvent:
        return LogEvent("status", f"{self.path}: {text}")

    def _changed(self, ident: tuple[int, int], pos: int) -> str:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "missing"
        except OSError:
            return ""
        if (st.st_dev, st.st_ino) != ident:
            return "rotated"
        if st.st_size < pos:
            return "truncated"
        return ""

    def events(self, *, tail: int, follow: bool, stop: threading.Event) -> Iterator[LogEvent]:
        f: BinaryIO | None = None
        ident, pos, first, missing = (0, 0), 0, True, False
        splitter = LineSplitter()
        quiet_since: float | None = None
        try:
            while not stop.is_set():
                if f is None:
                    try:
                        f = open(self.path, "rb")
                        st = os.fstat(f.fileno())
                    except FileNotFoundError:
                        if not missing:
                            yield self._status("does not exist" + ("; waiting for it" if follow else ""))
                            missing = True
                        if not follow:
                            return
                        stop.wait(self.poll_interval)
                        continue
                    except OSError as exc:
                        yield self._status(f"cannot read: {exc.strerror or exc}" + ("; retrying" if follow else ""))
                        if not follow:
                            return
                        stop.wait(1.0)
                        continue
                    if missing:
                        yield self._status("appeared; following it")
                    ident = (st.st_dev, st.st_ino)
                    pos = tail_offset(f, st.st_size, tail) if first and not missing else 0
                    first, missing = False, False
                    f.seek(pos)
                data = f.read(CHUNK)
                if data:
                    pos += len(data)
                    quiet_since = None
                    for line in splitter.feed(data):
                        yield LogEvent("line", line)
                    continue
                if not follow:
                    for line in splitter.flush():
                        yield LogEvent("line", line)
                    return
                if splitter.pending:
                    now = time.monotonic()
                    quiet_since = quiet_since or now
                    if now - quiet_since >= self.partial_flush_s:
                        for line in splitter.flush():
                            yield LogEvent("line", line)
                change = self._changed(ident, pos)
                if change == "truncated":
                    yield self._status("was truncated; reading it from the start")
                    splitter.reset()
                    f.seek(0)
                    pos = 0
                    continue
                if change in ("rotated", "missing"):
                    for line in splitter.flush():
                        yield LogEvent("line", line)
                    if change == "rotated":
                        yield self._status("was rotated; following the new file")
                    else:
                        yield self._status("disappeared; waiting for it to come back")
                        missing = True
                    f.close()
                    f = None
                    continue
                stop.wait(self.poll_interval)
        finally:
            if f is not None:
                f.close()
