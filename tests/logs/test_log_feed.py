"""The log feed's batches: the same lines, in the same order, sanitised as one by one."""

from __future__ import annotations

import threading

from servedeck.backends.logs.source import LogEvent
from servedeck.widgets.log_view import LogFeed, sanitise, sanitise_batch

CLEAN = [LogEvent("line", f"GET /v1/models 200 id={i}", float(i)) for i in range(300)]
MIXED = [
    LogEvent("line", "plain"),
    LogEvent("line", "colour \x1b[31mred\x1b[0m and a clear \x1b[2J and a title \x1b]0;t\x07"),
    LogEvent("line", "tab\there, bell\x07, bidi \u202eevil"),
    LogEvent("line", "café ünïcode ✓", 5.0),
    LogEvent("status", "the source ended"),
]


def test_a_batch_is_sanitised_exactly_as_line_by_line():
    for events in (CLEAN, MIXED, CLEAN[:3] + MIXED[4:]):
        assert sanitise_batch(events, 99.0) == [sanitise(e, 99.0) for e in events]
    assert all("\x1b[2J" not in line.text and "\x07" not in line.text for line in sanitise_batch(MIXED, 0.0))


def test_lines_keep_their_order_across_full_and_partial_batches():
    feed = LogFeed(high_water=10_000, batch=64)
    got: list[str] = []
    events = [LogEvent("line", f"line {i}") for i in range(1000)]

    def reader() -> None:
        for event in events:
            feed.put(event)

    thread = threading.Thread(target=reader)
    thread.start()
    while thread.is_alive():
        got.extend(line.plain for line in feed.take())
    thread.join()
    got.extend(line.plain for line in feed.take())
    assert got == [e.text for e in events]


def test_a_full_feed_holds_the_reader_until_the_ui_takes():
    feed = LogFeed(high_water=100, batch=10)
    done = threading.Event()

    def reader() -> None:
        for i in range(300):
            feed.put(LogEvent("line", f"line {i}"))
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    taken = 0
    while not done.is_set():
        if feed.full:
            assert not done.wait(0.3)  # the reader waits while the feed is full
            taken += len(feed.take())
    taken += len(feed.take())
    assert taken == 300
