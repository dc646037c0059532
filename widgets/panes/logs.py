"""The logs pane: one log source at a time (a container, a run, a file...), followed live.

The app opens a source with `open_source` (a container's `l` key, `o` here, or any
pane's OpenLog follow-up). A thread worker reads the source's events into a bounded
`LogFeed`; a timer drains it into the `LogView` several times a second. The pane keeps
the ResourceTable surface the app expects: `/` (the app's filter) shows only matching
lines, `shown_count`/`total_count` are matching/buffered lines.
"""

from __future__ import annotations

import time
from operator import itemgetter
from typing import Any, Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from servedeck.backends.base import Column, PaneSpec
from servedeck.backends.logs.source import LogEvent, LogSource, UnknownLogSource
from servedeck.text import safe
from servedeck.widgets.log_view import LogFeed, LogView, capacity_from_env

LOGS_PANE = PaneSpec(key="logs", title="Logs", columns=(Column("text", "Line"),), row_key="seq", aliases=("l", "log"), order=130)
DRAIN_INTERVAL_S = 0.05
# While lines keep coming, the view takes them, and so repaints, at most every STREAM_GAP_S
# (the first line after a quiet spell shows within a tick): a repaint costs the same for
# 10 lines as for 10,000, and at 20 Hz the repaints of a flooding source took a third of
# the CPU its reader needed. A feed that filled up (FEED_LINES) is drained at the next
# tick all the same, so the gap never caps what the reader can deliver.
STREAM_GAP_S = 0.2
FEED_LINES = 30_000
OPEN_TAIL = 10_000  # lines of history fetched when a source opens (bounded by the buffer)


class LogPrompt(Input):
    """The one-line prompt for a search or a source to open; esc cancels it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False, id="logs.prompt_cancel")]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mode = "search"

    def action_cancel(self) -> None:
        self.display = False
        self.screen.query_one(LogPane).focus()


class LogPane(Vertical, can_focus=True):
    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    LogPane > #log-info { height: 1; background: $boost; }
    LogPane > LogPrompt { dock: bottom; }
    """
    BINDINGS = [
        Binding("f", "toggle_follow", "Follow", id="logs.follow", tooltip="Pause or resume following new lines"),
        Binding("G,end", "jump_end", "End", id="logs.end", tooltip="Jump to the newest line and follow"),
        Binding("g,home", "jump_start", "Top", show=False, id="logs.top", tooltip="Jump to the oldest line"),
        Binding("s,ctrl+f", "search", "Search", id="logs.search", tooltip="Search and highlight"),
        Binding("n", "next_match", "Next", id="logs.next", tooltip="Next match"),
        Binding("N", "previous_match", "Prev", id="logs.previous", tooltip="Previous match"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap", tooltip="Wrap long lines"),
        Binding("t", "toggle_timestamps", "Times", id="logs.timestamps", tooltip="Show timestamps"),
        Binding("o", "open_prompt", "Open", id="logs.open", tooltip="Open a source: container/NAME, run/ID, file/PATH"),
        Binding("up,k", "scroll(-1)", "Up", show=False, id="logs.up"),
        Binding("down,j", "scroll(1)", "Down", show=False, id="logs.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="logs.page_up"),
        Binding("pagedown,space", "page(1)", "Page down", show=False, id="logs.page_down"),
        Binding("left", "pan(-8)", "Left", show=False, id="logs.left"),
        Binding("right", "pan(8)", "Right", show=False, id="logs.right"),
    ]

    pane_actions: tuple = ()

    def __init__(self, spec: PaneSpec, actions: Iterable = (), capacity: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.capacity = capacity or capacity_from_env()
        self.source: LogSource | None = None
        self.title = ""
        self.feed: LogFeed | None = None
        self.status = "no source: press o, or l on a container"
        self.ingested = 0
        # Made here, not in compose: the app mounts this pane when it is first shown, and
        # a source opened in the same breath needs its view at once.
        self._view = LogView(self.capacity, id="log-view")
        self._drain_timer = None
        self._next_drain = 0.0  # monotonic time before which a streaming view is not drained
        self._info = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="log-info")
        yield self._view
        prompt = LogPrompt(id="log-prompt")
        prompt.display = False
        yield prompt

    @property
    def view(self) -> LogView:
        return self._view

    def on_mount(self) -> None:
        self._info = ""  # a freshly composed info line shows nothing yet
        self._render_info()

    # -- the ResourceTable surface the app uses ---------------------------------------

    def show(self, entries: Iterable[tuple[str, Any]]) -> None:
        """Logs are not fed by snapshots; nothing to do."""

    def set_filter(self, text: str) -> None:
        self.view.set_filter(text)
        self._render_info()

    @property
    def filter_text(self) -> str:
        return self.view.filter_text if self.is_mounted else ""

    def selected(self) -> None:
        return None

    def refresh_relative(self) -> None:
        self._render_info()

    @property
    def shown_count(self) -> int:
        return self.view.matching

    @property
    def total_count(self) -> int:
        return len(self.view.lines)

    # -- sources ----------------------------------------------------------------------

    def open_source(self, source: LogSource, title: str = "") -> None:
        """Stop the current source and follow this one from a fresh buffer."""
        self.close_source()
        self.source, self.title = source, title or source.name
        self.view.clear()
        self.view.follow = True
        self.ingested = 0
        self.status = "connecting…"
        feed = self.feed = LogFeed(min(self.capacity, FEED_LINES))
        self._next_drain = 0.0
        # Drained only while a source is open: an idle cockpit has no 20 Hz timer.
        self._drain_timer = self.set_interval(DRAIN_INTERVAL_S, self._drain, name="log drain")

        def read() -> None:
            try:
                put, stopped = feed.put, feed.stop.is_set  # once per line: no lookups
                for event in source.events(tail=min(OPEN_TAIL, self.capacity), follow=True, stop=feed.stop):
                    put(event)
                    if stopped():
                        return
            except Exception as exc:  # a source must not raise; say so if one does
                feed.put(LogEvent("status", f"the source failed: {type(exc).__name__}: {exc}"))
                return
            if not feed.stop.is_set():
                feed.put(LogEvent("status", "the source ended"))

        self.run_worker(read, thread=True, group="logs", name=f"log {source.name}", exit_on_error=False)
        self._render_info()

    def close_source(self) -> None:
        if self.feed is not None:
            self.feed.close()
            self.feed = None
        timer, self._drain_timer = self._drain_timer, None
        if timer is not None:
            timer.stop()

    def on_unmount(self) -> None:
        self.close_source()

    def _drain(self) -> None:
        feed = self.feed
        if feed is None:
            return
        self.view.keep_following()
        now = time.monotonic()
        if now < self._next_drain and not feed.full:
            return
        rows = feed.take_rows()  # (rows, not Lines: see log_view._as_line)
        self._next_drain = now + STREAM_GAP_S if rows else 0.0
        if rows:
            self.ingested += len(rows)
            if any(map(itemgetter(3), rows)):  # (Line.status, looked at in C: most batches have none)
                for line in rows:
                    if line[3]:
                        self.status = line[2].strip("─ ")  # Line.plain
            if self.status == "connecting…" and rows:
                self.status = "streaming"
            self.view.add(rows)
            self._render_info()

    def _render_info(self) -> None:
        if not self.is_mounted:
            return
        view = self.view
        parts = [f"[b]{safe(self.title or 'no source')}[/b]"]
        parts.append("[green]following[/green]" if view.follow else "[yellow]paused (f follows)[/yellow]")
        parts.append(f"{len(view.lines):,}/{self.capacity:,} lines")
        if view.dropped:
            parts.append(f"[yellow]{view.dropped:,} dropped[/yellow]")
        if view.search_text:
            parts.append(f"search [reverse]{safe(view.search_text)}[/reverse] (n/N)")
        parts.append("wrap" if view.wrap else "no wrap")
        if view.show_ts:
            parts.append("timestamps")
        parts.append(safe(self.status, 100))
        info = "  │  ".join(parts)
        if info != self._info:  # one fixed-height line: no layout pass needed
            self._info = info
            self.query_one("#log-info", Static).update(info, layout=False)

    # -- keys -------------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        self.view.follow = not self.view.follow
        if self.view.follow:
            self.view.scroll_end(animate=False, immediate=True)
        self._render_info()

    def action_jump_end(self) -> None:
        self.view.follow = True
        self.view.scroll_end(animate=False, immediate=True)
        self._render_info()

    def action_jump_start(self) -> None:
        self.view.follow = False
        self.view.scroll_home(animate=False, immediate=True)
        self._render_info()

    def action_scroll(self, lines: int) -> None:
        self.view.follow = False
        self.view.scroll_to(y=max(0, self.view.scroll_y + lines), animate=False, immediate=True)
        self._render_info()

    def action_page(self, pages: int) -> None:
        self.action_scroll(pages * max(1, self.view.size.height - 1))

    def action_pan(self, columns: int) -> None:
        self.view.scroll_to(x=max(0, self.view.scroll_x + columns), animate=False, immediate=True)

    def action_toggle_wrap(self) -> None:
        self.view.wrap = not self.view.wrap
        self.view.reindex()
        self._render_info()

    def action_toggle_timestamps(self) -> None:
        self.view.show_ts = not self.view.show_ts
        self.view.reindex()
        self._render_info()

    def _prompt(self, mode: str, value: str, placeholder: str) -> None:
        prompt = self.query_one(LogPrompt)
        prompt.mode = mode
        prompt.placeholder = placeholder
        prompt.value = value
        prompt.display = True
        self.screen.set_focus(prompt)  # at once: keys typed right after go to the prompt

    def action_search(self) -> None:
        self._prompt("search", self.view.search_text, "search (enter finds, n/N next/previous, empty clears)")

    def action_open_prompt(self) -> None:
        self._prompt("open", "", "open a log: container/NAME, run/ID, file/PATH")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        prompt = self.query_one(LogPrompt)
        prompt.display = False
        self.focus()
        if prompt.mode == "search":
            self.view.set_search(event.value)
            if event.value and self.view.find(forward=not self.view.follow) is None:
                self.app.notify(f"no line matches {safe(event.value)!r}", severity="warning")
            self._render_info()
        elif event.value.strip():
            self.open_spec(event.value.strip())

    def open_spec(self, spec: str) -> None:
        """Find the source in a thread (backends block), then open it on the UI loop."""
        from servedeck.backends.logs.resolve import resolve

        runners = list(getattr(getattr(self.app, "fleet", None), "runners", []))

        def work() -> None:
            try:
                source = resolve(spec, runners)
            except UnknownLogSource as exc:
                self.app.call_from_thread(self.app.notify, safe(exc), severity="error")
                return
            self.app.call_from_thread(self.open_source, source, source.name)

        self.run_worker(work, thread=True, group="logs-resolve", exit_on_error=False)

    def action_next_match(self) -> None:
        self._step(True)

    def action_previous_match(self) -> None:
        self._step(False)

    def _step(self, forward: bool) -> None:
        if not self.view.search_text:
            self.app.notify("no search: press s first", severity="warning")
        elif self.view.find(forward) is None:
            self.app.notify("no more matches " + ("below" if forward else "above"), severity="warning")
        self._render_info()


def make_log_pane(spec: PaneSpec, actions: Iterable = (), **kwargs) -> LogPane:
    return LogPane(spec, actions, **kwargs)


ALWAYS_PANES = {"logs": LOGS_PANE}
PANE_BODIES = {"logs": make_log_pane}
