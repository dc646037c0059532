"""Schedules every backend's polls on the UI loop and runs them in worker threads.

Each backend is re-armed with `set_timer` when its previous poll finishes, so polls of
one backend never overlap and a slow backend only slows itself. Backends whose panes are
all hidden are still pinged (an empty `wanted` set) so the header stays live, but they
fetch no pane data, and at a third of their rate (but at least every PING_MAX_S): an
idle cockpit on the Backends pane costs a handful of pings a minute. Showing a pane polls its
backends at once and puts them back on their own rate.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from textual.app import App
from textual.timer import Timer

from servedeck.backends.base import Snapshot
from servedeck.backends.runner import BackendRunner

log = logging.getLogger(__name__)
MIN_GAP = 0.25  # a poll slower than its interval is followed after a quarter interval's rest
PING_SLOWDOWN = 3.0
PING_MAX_S = 30.0


class PollScheduler:
    def __init__(
        self,
        app: App,
        runners: list[BackendRunner],
        visible_panes: Callable[[], set[str]],
        on_snapshot: Callable[[Snapshot], None],
    ):
        self.app = app
        self.runners = {r.name: r for r in runners}
        self._visible = visible_panes
        self._on_snapshot = on_snapshot
        self._timers: dict[str, Timer] = {}
        self._in_flight: set[str] = set()
        self._again: set[str] = set()  # asked for while in flight: poll once more when it ends
        self._started: dict[str, float] = {}  # when each backend's last poll began
        self._pinged: set[str] = set()  # backends whose last poll fetched no pane data
        self.paused = False
        self.started = False
        # One callable per backend for its timer, made once: Textual inspects a callback's
        # signature on every call unless it has seen that very object before, and a fresh
        # lambda per poll made `inspect.signature` a visible part of an idle cockpit's CPU.
        self._poll_soon = {name: (lambda name=name: self.poll(name)) for name in self.runners}

    def start(self) -> None:
        self.started = True
        for name, runner in self.runners.items():
            runner.backend.wake = lambda name=name: self._wake(name)
            self.poll(name)

    def _wake(self, name: str) -> None:
        """From any thread: an event-driven backend has news; poll it on the UI loop."""
        if not self.app.is_running or getattr(self.app, "_loop", None) is None:
            return  # shutting down: nobody to show it to
        if not self.wanted(self.runners[name]):
            return  # its panes are hidden: a ping would show nothing new (the event proves it is up)
        try:
            self.app.call_from_thread(self.poll, name)
        except RuntimeError:  # already on the UI loop
            self.app.call_later(self.poll, name)

    def wanted(self, runner: BackendRunner) -> frozenset[str]:
        return frozenset({p.key for p in runner.backend.panes} & self._visible())

    def poll(self, name: str) -> None:
        """Poll one backend now, unless it is already polling or refresh is paused."""
        if self.paused:
            return
        if name in self._in_flight:
            # Never overlap, but never drop either: an event that arrives mid-poll (a
            # container that died after this poll read its state) gets a poll of its own.
            self._again.add(name)
            return
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.stop()
        runner = self.runners[name]
        wanted = self.wanted(runner)
        self._in_flight.add(name)
        self._started[name] = time.monotonic()
        if wanted:
            self._pinged.discard(name)
        else:
            self._pinged.add(name)

        def work() -> None:
            snapshot = runner.poll_once(wanted)
            if not self.app.is_running:
                return  # the app quit while this poll ran: nobody to tell
            try:
                self.app.call_from_thread(self._done, name, snapshot)
            except Exception:  # the app quit while this poll ran (nobody to tell), or a bug
                if self.app.is_running:
                    log.exception("showing a poll of %s failed", name)

        # A daemon thread of our own, not a Textual thread worker: those run in the event
        # loop's executor, which is joined when the app exits, so a poll hung in a
        # blocking SDK would hold `q` for as long as it hangs.
        threading.Thread(target=work, name=f"poll {name}", daemon=True).start()

    def _done(self, name: str, snapshot: Snapshot | None) -> None:
        self._in_flight.discard(name)
        if snapshot is not None:
            self._on_snapshot(snapshot)
        if name in self._again and not self.paused:
            self._again.discard(name)
            self.app.call_later(self.poll, name)
            return
        if not self.paused:
            interval = self.runners[name].backend.interval
            if name in self._pinged:  # nothing of it is on screen but its state
                interval = max(interval, min(interval * PING_SLOWDOWN, PING_MAX_S))
            # The next poll is due one interval after this one started, so a backend is
            # refreshed every `interval` however long its poll takes (but never back to back).
            took = time.monotonic() - self._started.get(name, time.monotonic())
            delay = max(interval - took, interval * MIN_GAP)
            self._timers[name] = self.app.set_timer(delay, self._poll_soon[name], name=f"poll {name}")

    def poll_panes(self, panes: set[str]) -> None:
        """A pane became visible: fetch its data now rather than at the next tick.
        Before `start` (the start pane, shown while the app mounts) there is nothing to
        do: the first polls come after the first frame, with `wake` set, so the Docker
        backend knows it is under a scheduler (no blocking stats round for every container)."""
        if not self.started:
            return
        for name, runner in self.runners.items():
            if {p.key for p in runner.backend.panes} & panes:
                self.poll(name)

    def refresh_all(self) -> None:
        for name in self.runners:
            self.poll(name)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if paused:
            for timer in self._timers.values():
                timer.stop()
            self._timers.clear()
        else:
            self.refresh_all()

    @property
    def in_flight(self) -> frozenset[str]:
        return frozenset(self._in_flight)
