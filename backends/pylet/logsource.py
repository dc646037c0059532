"""`pylet/INSTANCE`: an instance's output through the head's log route.

`GET /instances/{id}/logs?offset&limit` (proxied by the head to the worker) answers
`{available_offset, total_size, content: base64, size}`: bytes from `max(offset,
available_offset)`; older bytes may have been rotated away. Following re-asks from the
next offset; a head or worker that is away is announced once and retried, and the stream
ends once the instance is terminal and nothing new arrived.
"""

from __future__ import annotations

import base64
import binascii
import collections
import threading
from typing import Iterator

from servedeck.backends.base import BackendError
from servedeck.backends.logs.files import LineSplitter
from servedeck.backends.logs.source import LogEvent, LogSource
from servedeck.backends.pylet.client import HeadError, JsonHead
from servedeck.backends.pylet.rows import TERMINAL

CHUNK = 256 * 1024
TAIL_BYTES_PER_LINE = 512  # how far back to start reading for `tail` lines


class PyletLogSource(LogSource):
    poll_interval = 0.5

    def __init__(self, head: JsonHead, instance_id: str, name: str):
        self.head = head
        self.instance_id = instance_id
        self.name = name

    def _fetch(self, offset: int, limit: int = CHUNK) -> tuple[int, int, bytes]:
        """(start offset of the bytes, total size, bytes)."""
        doc = self.head.json("GET", f"/instances/{self.instance_id}/logs", params={"offset": offset, "limit": limit})
        if not isinstance(doc, dict):
            raise BackendError("pylet log route answered something unexpected", reachable=True)
        available, total = int(doc.get("available_offset") or 0), int(doc.get("total_size") or 0)
        try:
            data = base64.b64decode(doc.get("content") or "", validate=True)
        except (binascii.Error, ValueError):
            raise BackendError("pylet log route sent content that is not base64", reachable=True) from None
        return min(max(offset, available), total), total, data

    def _state(self) -> str:
        doc = self.head.json("GET", f"/instances/{self.instance_id}")
        return str(doc.get("status") or "") if isinstance(doc, dict) else ""

    def events(self, *, tail: int, follow: bool, stop: threading.Event) -> Iterator[LogEvent]:
        splitter = LineSplitter()
        try:
            offset, total, _ = self._fetch(0, 0)
        except BackendError as exc:
            yield LogEvent("status", _why(exc))
            if not follow:
                return
            offset = total = 0
        start = 0 if tail < 0 else max(offset, total - max(64 * 1024, tail * TAIL_BYTES_PER_LINE))
        skip_partial = start > offset
        offset = start
        first: collections.deque[str] = collections.deque(maxlen=tail if tail >= 0 else None)
        # what is there now: read up to the size seen at the start, then tail it
        while offset < total and not stop.is_set():
            try:
                got, _, data = self._fetch(offset)
            except BackendError as exc:
                yield LogEvent("status", _why(exc))
                break
            if not data:
                break
            offset = got + len(data)
            lines = splitter.feed(data)
            if skip_partial and lines:
                lines, skip_partial = lines[1:], False
            first.extend(lines)
        for line in first:
            yield LogEvent("line", line)
        if not follow:
            for line in splitter.flush():
                yield LogEvent("line", line)
            return
        yield from self._follow(offset, splitter, stop)

    def _follow(self, offset: int, splitter: LineSplitter, stop: threading.Event) -> Iterator[LogEvent]:
        away = False
        while not stop.is_set():
            try:
                got, total, data = self._fetch(offset)
                if away:
                    away = False
                    yield LogEvent("status", f"{self.name}: log route answers again")
                if got > offset or total < offset:
                    yield LogEvent("status", f"{self.name}: log rotated or truncated at byte {offset}; "
                                             f"resuming at {got}")
                if data:
                    offset = got + len(data)
                    for line in splitter.feed(data):
                        yield LogEvent("line", line)
                    continue
                for line in splitter.flush():
                    yield LogEvent("line", line)
                state = self._state()
                if state in TERMINAL:
                    yield LogEvent("status", f"{self.name}: instance is {state}; end of log")
                    return
            except BackendError as exc:
                if isinstance(exc, HeadError) and exc.status == 404 and "not found" in exc.detail.lower() \
                        and "assigned" not in exc.detail.lower():
                    yield LogEvent("status", f"{self.name}: instance no longer exists")
                    return
                if not away:
                    away = True
                    yield LogEvent("status", f"{self.name}: {_why(exc)}; retrying")
            stop.wait(self.poll_interval)


def _why(exc: BackendError) -> str:
    if isinstance(exc, HeadError):
        return f"pylet: {exc.detail}"
    return exc.message
