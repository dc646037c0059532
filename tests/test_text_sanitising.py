"""What reaches the screen: one line, no escape sequences, no bidi reordering, bounded
length, whatever the container, job or service sent (issue 15, part 3)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from servedeck.text import safe, strip_control

FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
hostile = st.lists(st.text(max_size=8) | st.sampled_from(
    ["\x1b[2J", "\x1b]0;title\x07", "\x1b[31m", "\u202e", "\u2066", "\n", "\r\n", "\u2028", "\x85", "\x9b1m",
     "\x00", "\t", "\x1b", "\x1b["]), max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=hostile, limit=st.integers(min_value=2, max_value=300))
def test_property_safe_is_one_clean_bounded_line(text, limit):
    out = safe(text, limit)
    assert not FORBIDDEN.search(out), repr(out)
    assert len(out) <= limit


@settings(max_examples=500, deadline=None)
@given(text=hostile)
def test_property_strip_control_keeps_lines_but_nothing_else(text):
    for keep in (False, True):
        out = strip_control(text, keep_sgr=keep)
        rest = re.sub(r"\x1b\[[0-9;:]*m", "", out) if keep else out
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]", rest), repr(out)


def test_bidi_override_in_a_name_is_removed_and_the_text_kept():
    assert safe("job-\u202egnp.exe") == "job-gnp.exe"
    assert safe("warning one\nVALID") == "warning one VALID"
