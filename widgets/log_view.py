"""The log view: a bounded buffer of sanitised lines drawn one screen at a time.

Lines arrive in a `LogFeed` from a worker thread (sanitised there in batches; the UI loop
sanitises at most the last, partial batch); the view drains the feed on a short timer, so
a burst is one append per tick, never one message per line. Both the feed and the buffer are
bounded deques: memory stays flat on endless streams and every line pushed out is counted
as dropped. Only the visible rows are rendered (`render_line`), so the view stays fast
with tens of thousands of lines; filter, search, wrap and timestamps re-index rows only.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from collections import deque
from functools import partial
from operator import itemgetter
from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from servedeck.backends.logs.source import LogEvent
from servedeck.secrets import has_secrets, redact
from servedeck.text import strip_control

DEFAULT_CAPACITY = 50_000
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
TS_WIDTH = 13  # "HH:MM:SS.mmm "
STATUS_STYLE = Style(color="yellow", bold=True)
MATCH_STYLE = Style(bgcolor="dark_goldenrod", color="black")
CURRENT_STYLE = Style(bgcolor="grey30")


def capacity_from_env() -> int:
    """SERVEDECK_LOG_BUFFER lines (at least 100); the default otherwise."""
    try:
        return max(100, int(os.environ.get("SERVEDECK_LOG_BUFFER", DEFAULT_CAPACITY)))
    except ValueError:
        return DEFAULT_CAPACITY


class Line(NamedTuple):
    ts: float | None
    text: str  # control sequences removed, colour (SGR) kept
    plain: str  # without colour: what search and filter look at
    status: bool  # a status sentence from the source, not a line of the stream


def sanitise(event: LogEvent, now: float) -> Line:
    text = event.text
    plain = text
    if not text.isprintable():  # the common clean line skips the regexes
        text = strip_control(text, keep_sgr=True)
        plain = _SGR.sub("", text) if "\x1b" in text else text
    if has_secrets():  # a secret from the environment that a process printed stays masked
        text, plain = redact(text), redact(plain)
    if event.kind == "status":
        return Line(event.ts or now, f"── {plain} ──", f"── {plain} ──", True)
    return Line(event.ts if event.ts is not None else now, text, plain, False)


_PLAIN = itemgetter(2)  # Line.plain, for map() in C
_PRINTABLE_ASCII = bytes(range(0x20, 0x7f))
# A row is a Line's fields as an exact tuple: what the feed and the buffer keep. CPython's
# collector stops tracking an exact tuple of strings and numbers at its first collection;
# a tuple subclass (a NamedTuple) stays tracked for good, so 50,000 buffered Lines were
# scanned by every collection and their steady arrival set off a full one every few
# seconds of a flood (a third of the pane's wall time in the profile). Lines are made
# from rows only where code reads them by name.
_as_line = partial(tuple.__new__, Line)  # row -> Line, in C (Line(...) has a Python-level __new__)


def sanitise_rows(events: list[LogEvent], now: float) -> list[tuple]:
    """`sanitise` for many lines at once, as rows. A batch that is printable ASCII
    throughout (the usual log) has nothing to strip, which one C-level scan of the joined
    text proves; any other batch goes line by line."""
    joined = "".join([event.text for event in events])
    # (bytes.translate deleting the printable bytes leaves the others: 10x faster than re)
    if not joined.isascii() or joined.encode("ascii").translate(None, _PRINTABLE_ASCII) or has_secrets():
        return [tuple(sanitise(event, now)) for event in events]
    return [(now if e.ts is None else e.ts, e.text, e.text, False) if e.kind == "line"
            else tuple(sanitise(e, now)) for e in events]


def sanitise_batch(events: list[LogEvent], now: float) -> list[Line]:
    """`sanitise_rows` as Lines."""
    return list(map(_as_line, sanitise_rows(events, now)))


class LineBuffer:
    """The bounded buffer of rows (see `_as_line`), read back as Lines; `extend` pushes
    the oldest out in C, like the deque(maxlen) it wraps."""

    __slots__ = ("rows",)

    def __init__(self, capacity: int):
        self.rows: deque[tuple] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Line:
        return _as_line(self.rows[index])

    def __iter__(self):
        return map(_as_line, self.rows)

    def append(self, line: tuple) -> None:
        self.rows.append(tuple(line))

    def extend(self, lines) -> None:
        """Lines or rows (`tuple()` of a row is the row itself: no copy)."""
        self.rows.extend(map(tuple, lines))

    def clear(self) -> None:
        self.rows.clear()


class LogFeed:
    """The hand-over between the reading thread and the UI, with backpressure.

    `put` only appends (it runs once per line, in the reader's thread); every `batch`
    lines the reader sanitises the batch in one go, and `take` sanitises what is left
    of the last one (a quiet stream's few lines). Both happen under the lock, so lines
    keep their order. Lines without their own timestamp get the time their batch began.
    `put` blocks while `high_water` lines wait for the UI (the reader sleeps instead of
    holding the GIL, so keys stay responsive during a burst); what the UI cannot keep in
    its buffer is counted as dropped there.
    """

    def __init__(self, high_water: int = 5000, batch: int = 256):
        self.high_water = high_water
        self.batch = batch
        self._raw: list[LogEvent] = []  # read, not yet sanitised
        self._since = 0.0  # when the first of them arrived
        self._pending: list[tuple] = []  # sanitised rows
        self._lock = threading.Lock()  # taken once per line: a Condition's `with` costs more
        self._cond = threading.Condition(self._lock)
        self.stop = threading.Event()

    def put(self, event: LogEvent) -> None:
        with self._lock:
            raw = self._raw
            if not raw:
                self._since = time.time()
            raw.append(event)
            if len(raw) < self.batch:
                return
            self._seal()
            while len(self._pending) >= self.high_water and not self.stop.is_set():
                self._cond.wait(0.2)

    def _seal(self) -> None:
        """(Lock held.) The raw lines become sanitised pending lines."""
        self._pending.extend(sanitise_rows(self._raw, self._since))
        self._raw = []

    @property
    def full(self) -> bool:
        """The reader waits for the UI now (or will at its next batch)."""
        return len(self._pending) >= self.high_water

    def take_rows(self) -> list[tuple]:
        """Everything pending, as rows (and wake the reader if it waited)."""
        with self._cond:
            if self._raw:
                self._seal()
            rows, self._pending = self._pending, []
            self._cond.notify_all()
        return rows

    def take(self) -> list[Line]:
        """`take_rows` as Lines."""
        return list(map(_as_line, self.take_rows()))

    def close(self) -> None:
        self.stop.set()
        with self._cond:
            self._cond.notify_all()


class LogView(ScrollView, can_focus=False):
    """Rows of the buffer that pass the filter; the pane around it owns the keys."""

    DEFAULT_CSS = "LogView { height: 1fr; }"

    def __init__(self, capacity: int = DEFAULT_CAPACITY, **kwargs):
        super().__init__(**kwargs)
        self.capacity = capacity
        self.lines = LineBuffer(capacity)
        self.first_seq = 0  # sequence number of lines[0]
        self.dropped = 0
        # Without filter and wrap, row i is line i (no index to maintain: bursts stay
        # cheap); otherwise `rows` lists (sequence number, wrapped chunk) per screen row.
        self.rows: deque[tuple[int, int]] | None = None
        self.filter_text = ""
        self.search_text = ""
        self.current_match: int | None = None  # sequence number of the current match
        self.wrap = False
        self.show_ts = False
        self.follow = True
        self._matching = 0  # lines that pass the filter (when indexed)
        self._max_width = 0
        self._cache: dict[tuple[int, bool], Text] = {}
        self._frame: tuple | None = None  # (scroll offset, width, style) while a frame renders

    # -- data -------------------------------------------------------------------------

    @property
    def indexed(self) -> bool:
        return self.rows is not None

    @property
    def matching(self) -> int:
        return self._matching if self.indexed else len(self.lines)

    @property
    def row_count(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.lines)

    def row_at(self, index: int) -> tuple[int, int]:
        return self.rows[index] if self.rows is not None else (self.first_seq + index, 0)

    def clear(self) -> None:
        self.lines.clear()
        self.rows = deque() if (self.filter_text or self.wrap) else None
        self.first_seq = self.dropped = self._matching = self._max_width = 0
        self.current_match = None
        self._cache.clear()
        self._resize()

    def add(self, new: list[tuple]) -> None:
        """Append lines (Lines or rows), pushing the oldest out of the bounded buffer
        (counted as dropped)."""
        if not new:
            return
        if len(new) > self.capacity:  # everything shown so far and the start of `new` go
            skip = len(new) - self.capacity
            self.dropped += len(self.lines) + skip
            self.first_seq += len(self.lines) + skip
            self.lines.clear()
            if self.rows is not None:
                self.rows.clear()
            self._matching = 0
            new = new[skip:]
        seq = self.first_seq + len(self.lines)
        overflow = len(self.lines) + len(new) - self.capacity
        removed_rows = 0
        if overflow > 0:
            if self.rows is None:
                removed_rows = overflow
            else:
                for line in itertools.islice(self.lines, overflow):  # about to be pushed out
                    if self._passes(line):
                        self._matching -= 1
        self.lines.extend(new)
        if self.rows is None:
            widest = max(map(len, map(_PLAIN, new))) + (TS_WIDTH if self.show_ts else 0)
            self._max_width = max(self._max_width, widest)
        else:
            width = self._wrap_width()
            for line in map(_as_line, new):
                if self._passes(line):
                    self._matching += 1
                    self._add_rows(seq, line, width)
                seq += 1
        if overflow > 0:
            self.first_seq += overflow
            self.dropped += overflow
            while self.rows and self.rows[0][0] < self.first_seq:
                self.rows.popleft()
                removed_rows += 1
            if len(self._cache) > 4000:
                self._cache.clear()
        self._resize()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif removed_rows:  # keep the same lines in view while the buffer moves under them
            self.scroll_to(y=max(0, self.scroll_y - removed_rows), animate=False, immediate=True)
        self.refresh()

    def _passes(self, line: Line) -> bool:
        return not self.filter_text or line.status or self.filter_text.casefold() in line.plain.casefold()

    def _wrap_width(self) -> int:
        return max(10, self.scrollable_content_region.width or self.size.width or 80)

    def _line_width(self, line: Line) -> int:
        return len(line.plain) + (TS_WIDTH if self.show_ts else 0)

    def _add_rows(self, seq: int, line: Line, width: int) -> None:
        length = self._line_width(line)
        if self.wrap:
            for chunk in range(max(1, -(-length // width))):
                self.rows.append((seq, chunk))
        else:
            self.rows.append((seq, 0))
            if length > self._max_width:
                self._max_width = length

    def reindex(self) -> None:
        """Rebuild the rows after the filter, wrap, timestamps or the width changed."""
        anchor = self.top_seq()
        self._matching = 0
        self._max_width = 0
        self._cache.clear()
        if not (self.filter_text or self.wrap):
            self.rows = None
            if self.lines:
                self._max_width = max(map(len, map(_PLAIN, self.lines.rows))) + (TS_WIDTH if self.show_ts else 0)
        else:
            self.rows = deque()
            width = self._wrap_width()
            for seq, line in enumerate(self.lines, self.first_seq):
                if self._passes(line):
                    self._matching += 1
                    self._add_rows(seq, line, width)
        self._resize()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif anchor is not None:
            self.scroll_to(y=self.row_of(anchor) or 0, animate=False, immediate=True)
        self.refresh()

    def _resize(self) -> None:
        width = self._wrap_width() if self.wrap else max(self._max_width, 1)
        self.virtual_size = Size(width, self.row_count)

    def on_resize(self) -> None:
        if self.wrap:
            self.reindex()
        self.keep_following()

    def on_mouse_scroll_up(self) -> None:
        self.follow = False  # the wheel moved away from the end: stop following

    def keep_following(self) -> None:
        """While following, stay at the end (layout can change the end under us)."""
        if self.follow and self.scroll_y < self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def top_seq(self) -> int | None:
        top = int(self.scroll_y)
        return self.row_at(top)[0] if 0 <= top < self.row_count else None

    def row_of(self, seq: int) -> int | None:
        """The first row showing line `seq` (binary search: rows are ordered)."""
        if self.rows is None:
            index = seq - self.first_seq
            return index if 0 <= index < len(self.lines) else None
        lo, hi = 0, len(self.rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.rows[mid][0] < seq:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self.rows) and self.rows[lo][0] == seq else None

    # -- settings ---------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.reindex()

    def set_search(self, text: str) -> None:
        self.search_text = text
        self.current_match = None
        self._cache.clear()
        self.refresh()

    def find(self, forward: bool = True) -> int | None:
        """Move to the next (or previous) line containing the search text; its seq."""
        if not self.search_text or not self.row_count:
            return None
        needle = self.search_text.casefold()
        end = self.first_seq + len(self.lines)
        if self.current_match is not None and self.current_match >= self.first_seq:
            start = self.current_match + (1 if forward else -1)
        elif self.follow:  # a fresh search while following: the newest match first
            start = end - 1
        else:
            top = self.top_seq()
            top = self.first_seq if top is None else top
            start = top if forward else top + max(0, self.size.height - 1)
        order = range(max(start, self.first_seq), end) if forward else range(min(start, end - 1), self.first_seq - 1, -1)
        for seq in order:
            line = self.lines[seq - self.first_seq]
            if needle in line.plain.casefold() and self._passes(line):
                self.current_match = seq
                self.follow = False
                row = self.row_of(seq) or 0
                self.scroll_to(y=max(0, row - self.size.height // 2), animate=False, immediate=True)
                self._cache.clear()
                self.refresh()
                return seq
        return None

    def count_matches(self) -> int:
        if not self.search_text:
            return 0
        needle = self.search_text.casefold()
        return sum(1 for line in self.lines if needle in line.plain.casefold() and self._passes(line))

    # -- drawing ----------------------------------------------------------------------

    def _text(self, seq: int, line: Line) -> Text:
        key = (seq, self.show_ts)
        text = self._cache.get(key)
        if text is None:
            if line.status:
                text = Text(line.plain, style=STATUS_STYLE)
            elif "\x1b" in line.text:
                text = Text.from_ansi(line.text, end="")
            else:
                text = Text(line.text, end="")
            if self.search_text:
                text.highlight_words([self.search_text], MATCH_STYLE, case_sensitive=False)
            if self.show_ts:
                text = Text.assemble((format_ts(line.ts), "dim"), text, end="")
            if seq == self.current_match:
                text.stylize_before(CURRENT_STYLE)
            self._cache[key] = text
        return text

    def render_lines(self, crop: Region) -> list[Strip]:
        """One frame: its scroll offset, width and style are read once, not per line (at
        a flood's repaint rate, rich_style alone cost more than drawing the lines)."""
        self._frame = (self.scroll_offset, self.scrollable_content_region.width, self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        frame = self._frame or (self.scroll_offset, self.scrollable_content_region.width, self.rich_style)
        (scroll_x, scroll_y), width, style = frame
        index = scroll_y + y
        if index >= self.row_count:
            return Strip.blank(width, style)
        seq, chunk = self.row_at(index)
        line = self.lines[seq - self.first_seq]
        if self._plain(line, seq):  # one cell per character, one style: a single segment
            text = line.text
            if self.wrap:
                wrap = self._wrap_width()
                text = text[chunk * wrap:(chunk + 1) * wrap]
                scroll_x = 0
            return Strip([Segment(text[scroll_x:scroll_x + width].ljust(width), style)], width)
        text = self._text(seq, line)
        if self.wrap:
            wrap = self._wrap_width()
            text = text[chunk * wrap:(chunk + 1) * wrap]
            scroll_x = 0
        strip = Strip(list(text.render(self.app.console)))
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_style(style)

    def _plain(self, line: Line, seq: int) -> bool:
        """Drawn as is: printable ASCII (sanitised lines without ESC have no controls left)
        and nothing to add (no timestamp, search highlight or current-match mark)."""
        return not (line.status or self.show_ts or self.search_text or seq == self.current_match
                    or "\x1b" in line.text or not line.text.isascii())


def format_ts(ts: float | None) -> str:
    if ts is None:
        return " " * TS_WIDTH
    local = time.localtime(ts)
    return time.strftime("%H:%M:%S", local) + f".{int((ts % 1) * 1000):03d} "
