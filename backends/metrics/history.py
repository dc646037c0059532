"""What a gauge backend remembers between polls: sparkline rings and vanished series.

A series that stops arriving (its exporter died, a GPU fell off the bus) must not just
disappear from the pane: its last row is carried on, marked stale with its age, and
down when its exporter is known to be down. Rows stay immutable: each poll makes new
ones with a fresh `history` tuple cut from the ring.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import replace
from typing import Any, Callable, Iterable


class PaneMemory:
    """Per pane: a bounded ring of one value per row key, and the last row of each key."""

    def __init__(self, key_of: Callable[[Any], str], value_of: Callable[[Any], float | None],
                 points: int = 120, forget_after: float = 900.0):
        self.key_of, self.value_of = key_of, value_of
        self.points, self.forget_after = points, forget_after
        self._rings: dict[str, deque[float]] = {}
        self._last: dict[str, tuple[Any, float]] = {}  # key -> (row, time it was last fresh)
        self._lock = threading.Lock()  # a plot fetch may read while a poll writes
        self.seeded = False

    def seed(self, series: dict[str, list[float]]) -> None:
        """Fill the rings from a range query (oldest first) when the pane is opened."""
        with self._lock:
            for key, values in series.items():
                ring = deque((round(v, 2) for v in values[-self.points:]), maxlen=self.points)
                self._rings[key] = ring
            self.seeded = True

    def update(self, rows: Iterable[Any], now: float, *, down: Callable[[Any], bool] = lambda r: False,
               all_down: bool = False) -> list[Any]:
        """This poll's rows with their histories, plus remembered rows that vanished
        (stale; down when `down(row)` or `all_down`)."""
        out = []
        seen = set()
        with self._lock:
            for row in rows:
                key = self.key_of(row)
                seen.add(key)
                ring = self._rings.setdefault(key, deque(maxlen=self.points))
                value = self.value_of(row)
                if value is not None and not row.stale:
                    ring.append(round(value, 2))
                row = replace(row, history=tuple(ring))
                if not row.stale:
                    self._last[key] = (row, now)
                out.append(row)
            for key, (row, fresh_at) in list(self._last.items()):
                if key in seen:
                    continue
                age = now - fresh_at
                if age > self.forget_after:
                    del self._last[key]
                    self._rings.pop(key, None)
                    continue
                state = "down" if all_down or down(row) else "stale"
                out.append(replace(row, stale=True, state=state, age_s=round(age, 1)))
        return out

    def mark_all(self, now: float, state: str) -> list[Any]:
        """Every remembered row as stale (`state` down or stale): the source failed."""
        return self.update((), now, all_down=(state == "down"))

    def history(self, key: str) -> tuple[float, ...]:
        with self._lock:
            return tuple(self._rings.get(key, ()))
