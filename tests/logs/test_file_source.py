"""FileSource and LineSplitter: tail -F semantics on real files."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


from servedeck.backends.logs.files import CUT_MARK, FileSource, LineSplitter


def collect(source: FileSource, *, tail: int = -1) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in source.events(tail=tail, follow=False, stop=threading.Event())]


class Follower:
    """Runs a following source in a thread; `until` waits for an event to arrive."""

    def __init__(self, source: FileSource, tail: int = -1):
        self.events: list[tuple[str, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(source, tail), daemon=True)
        self.thread.start()

    def _run(self, source, tail):
        for e in source.events(tail=tail, follow=True, stop=self.stop):
            self.events.append((e.kind, e.text))

    def until(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.events):
                return
            time.sleep(0.02)
        raise AssertionError(f"never happened; events: {self.events[-10:]}")

    def close(self):
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive(), "the source did not return after stop"


def lines(events) -> list[str]:
    return [t for k, t in events if k == "line"]


def has_status(word: str):
    return lambda events: any(k == "status" and word in t for k, t in events)


def test_splitter_decodes_bad_utf8_cuts_long_lines_and_holds_partials():
    s = LineSplitter(max_bytes=10)
    assert s.feed(b"ok\xff\xfe\r\npart") == ["ok\ufffd\ufffd"]
    assert s.pending and s.feed(b"ial\n") == ["partial"]
    out = s.feed(b"0123456789ABCDEF")  # longer than the cap, no newline yet
    assert out == ["0123456789" + CUT_MARK]
    assert s.feed(b"GHI\nnext\n") == ["next"]  # the rest of the long line is dropped
    assert s.feed(b"tail") == [] and s.flush() == ["tail"] and s.flush() == []


def test_tail_counts_lines_from_the_end(tmp_path: Path):
    f = tmp_path / "a.log"
    f.write_text("".join(f"l{i}\n" for i in range(100_000)))
    src = FileSource(f, "file/a")
    assert lines(collect(src, tail=3)) == ["l99997", "l99998", "l99999"]
    assert len(lines(collect(src))) == 100_000
    assert lines(collect(src, tail=0)) == []
    f.write_text("no newline at end")
    assert lines(collect(src, tail=5)) == ["no newline at end"]


def test_missing_file_is_reported_not_raised(tmp_path: Path):
    events = collect(FileSource(tmp_path / "nope.log", "file/nope"))
    assert events and events[0][0] == "status" and "does not exist" in events[0][1]


def test_follow_sees_appends_partials_truncation_rotation_and_return(tmp_path: Path):
    f = tmp_path / "app.log"
    f.write_text("old\n")
    follower = Follower(FileSource(f, "file/app"), tail=10)
    try:
        follower.until(lambda ev: lines(ev) == ["old"])
        with f.open("a") as out:
            out.write("new 1\nhalf")
        follower.until(lambda ev: lines(ev)[-1:] == ["new 1"])
        follower.until(lambda ev: lines(ev)[-1:] == ["half"])  # flushed once the writer is quiet
        f.write_text("x\n")  # truncated: smaller than what was read
        follower.until(has_status("truncated"))
        follower.until(lambda ev: lines(ev)[-1:] == ["x"])
        os.rename(f, tmp_path / "app.log.1")  # rotated: a new file at the path
        f.write_text("after rotation\n")
        follower.until(has_status("rotated"))
        follower.until(lambda ev: lines(ev)[-1:] == ["after rotation"])
        os.unlink(f)
        follower.until(has_status("disappeared"))
        f.write_text("back\n")
        follower.until(has_status("appeared"))
        follower.until(lambda ev: lines(ev)[-1:] == ["back"])
    finally:
        follower.close()


def test_a_file_created_later_is_read_from_its_start(tmp_path: Path):
    f = tmp_path / "later.log"
    follower = Follower(FileSource(f, "file/later"), tail=1)
    try:
        follower.until(has_status("does not exist"))
        f.write_text("one\ntwo\n")
        follower.until(lambda ev: lines(ev) == ["one", "two"])
    finally:
        follower.close()
