"""Log streams that never end a line, or send anything at all: lines are cut at the cap,
never held whole (issue 15, part 3)."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from servedeck.backends.logs.files import CUT_MARK, MAX_LINE_BYTES, LineSplitter
from servedeck.backends.logs.remote import LocalTailSource


def test_a_line_that_never_ends_is_cut_by_the_local_tail(tmp_path):
    path = tmp_path / "job.out"
    path.write_bytes(b"first\n" + b"x" * (8 * 1024 * 1024) + b"\nlast\n")
    events = list(LocalTailSource(str(path)).events(tail=10, follow=False, stop=threading.Event()))
    lines = [e.text for e in events if e.kind == "line"]
    assert lines[0] == "first" and lines[-1] == "last"
    assert lines[1].endswith(CUT_MARK) and len(lines[1]) <= MAX_LINE_BYTES + len(CUT_MARK)
    assert len(lines) == 3


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64) | st.sampled_from([b"\n", b"\r\n", b"y" * 40]), max_size=40),
       cap=st.integers(min_value=1, max_value=50))
def test_property_splitter_lines_are_bounded_and_complete(chunks, cap):
    splitter = LineSplitter(cap)
    out = [line for chunk in chunks for line in splitter.feed(chunk)] + splitter.flush()
    for line in out:
        assert "\n" not in line
        assert len(line.removesuffix(CUT_MARK).encode("utf-8", "replace")) <= cap * 3  # replacement chars
    whole = b"".join(chunks)
    parts = whole.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    if all(len(part) <= cap for part in parts):  # nothing cut: every line arrives as sent
        assert out == [p.removesuffix(b"\r").decode("utf-8", "replace") for p in parts]
