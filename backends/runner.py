"""Runs one backend's polls and turns every outcome into a Snapshot.

The runner is the boundary where exceptions stop: a poll that raises becomes a state
(down or degraded, with its message and the time it started), and the last good pane
data is kept so a pane can show it as stale. Polls of one runner never overlap: a poll
requested while one is in flight is skipped, not queued.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Mapping

from servedeck.text import safe
from servedeck.backends.base import (
    ActionResult,
    Backend,
    BackendError,
    BackendState,
    Health,
    PartialPoll,
    Rows,
    Snapshot,
    find_action,
)
from servedeck.secrets import redact

log = logging.getLogger(__name__)


class BackendRunner:
    def __init__(self, backend: Backend, clock=time.time):
        self.backend = backend
        self._clock = clock
        self._lock = threading.Lock()
        self._panes: dict[str, Rows] = {}
        self._state = BackendState(Health.UNKNOWN, "not polled yet", since=clock())
        self.polls = 0

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def snapshot(self) -> Snapshot:
        return Snapshot(
            backend=self.backend.name,
            kind=self.backend.kind,
            state=self._state,
            taken_at=self._clock(),
            panes=dict(self._panes),
        )

    def poll_once(self, wanted: frozenset[str] = frozenset()) -> Snapshot | None:
        """Blocking. Poll now; None when a poll of this backend is already running."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self._poll(wanted)
        finally:
            self._lock.release()

    def _poll(self, wanted: frozenset[str]) -> Snapshot:
        started = time.perf_counter()
        self.polls += 1
        try:
            panes = self.backend.poll(wanted)
        except PartialPoll as exc:
            self._panes.update(exc.panes)
            self._set(Health.DEGRADED, exc.message, exc.hint, started)
        except BackendError as exc:
            health = Health.DEGRADED if exc.reachable else Health.DOWN
            stale = getattr(exc, "panes", None)  # last rows, re-marked stale by the backend
            if stale:
                self._panes.update(stale)
            self._set(health, exc.message, exc.hint, started)
        except Exception as exc:  # a bug or an unmapped library error: a state, not a crash
            log.exception("poll of %s failed", self.backend.name)
            self._set(Health.DOWN, f"unexpected error: {type(exc).__name__}: {exc}", "", started)
        else:
            self._panes.update(panes)
            self._set(Health.OK, "", "", started)
        return self.snapshot

    def _set(self, health: Health, message: str, hint: str, started: float) -> None:
        latency = round((time.perf_counter() - started) * 1000, 1)
        since = self._state.since if health == self._state.health else self._clock()
        # Messages quote what services answered: one clean line each, whatever they sent;
        # error bodies may echo a token the request carried (masked before any cut).
        self._state = BackendState(health, safe(redact(message), 1000), since=since, latency_ms=latency,
                                   hint=safe(redact(hint), 300))

    def perform(self, action_id: str, row, *, readonly: bool, value: str | None = None) -> ActionResult:
        """Blocking. Run an action, refusing mutating ones in read-only mode."""
        action = find_action(type(self.backend), action_id)
        if action is None:
            return ActionResult(False, f"{self.backend.kind} backend has no action {action_id}")
        if readonly and action.mutating:
            return ActionResult(False, f"refused: {action.title.lower()} changes state (read-only mode)")
        try:
            if value is None:
                result = self.backend.perform(action_id, row)
            else:
                result = self.backend.perform(action_id, row, value)
        except BackendError as exc:
            result = ActionResult(False, exc.message)
        except Exception as exc:
            log.exception("action %s on %s failed", action_id, self.backend.name)
            result = ActionResult(False, f"unexpected error: {type(exc).__name__}: {exc}")
        return replace(result, message=redact(result.message))

    def close(self) -> None:
        try:
            self.backend.close()
        except Exception:
            log.exception("closing %s failed", self.backend.name)


def merge_rows(snapshots: Mapping[str, Snapshot], pane: str) -> list[tuple[str, object]]:
    """All rows of one pane across backends, each with the backend it came from."""
    rows: list[tuple[str, object]] = []
    for name, snap in snapshots.items():
        for row in snap.panes.get(pane, ()):
            rows.append((name, row))
    return rows
