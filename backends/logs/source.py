"""The log-source contract: anything whose lines the logs pane and `servedeck logs` show.

A source is named `KIND/NAME` (`container/sglang-dev`, `run/container-run-…`,
`file//var/log/x.log`, `job/12345`). Backends that own a kind of source declare it in
`log_kinds` and build it in `log_source(kind, name)`; `file/` is built in. A source's
`events` is a blocking generator run in a worker thread: it yields raw lines (not yet
sanitised: the consumer strips control sequences before drawing) and status events
when the stream ends, breaks, is truncated or resumes, so the pane can say so.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Iterator, Literal, NamedTuple


class LogEvent(NamedTuple):
    """(A NamedTuple, not a frozen dataclass: one is made per line, and a frozen
    dataclass's __init__ costs several times a tuple's.)"""

    kind: Literal["line", "status"]
    text: str  # a line without its trailing newline, or a status sentence
    ts: float | None = None  # when the source stamps lines (docker timestamps), else None


class LogSource(ABC):
    """One stream of log lines."""

    name: str  # "KIND/NAME", shown in the pane's title

    @abstractmethod
    def events(self, *, tail: int, follow: bool, stop: threading.Event) -> Iterator[LogEvent]:
        """Blocking: the last `tail` lines, then (if `follow`) new ones until `stop` is set.

        Must return promptly once `stop` is set, and must not raise for expected
        failures (source gone, daemon restarted, file rotated): yield a status event
        and, when following, keep trying to resume.
        """


class UnknownLogSource(LookupError):
    """`KIND/NAME` names nothing any configured backend can stream."""


def split_spec(spec: str) -> tuple[str, str]:
    kind, sep, name = spec.partition("/")
    if not sep or not kind or not name:
        raise UnknownLogSource(f"log source {spec!r} is not KIND/NAME (e.g. container/NAME, run/ID, file/PATH)")
    return kind, name
