"""What one poll cannot see: a model stuck in `deleting`, or flapping between replica counts.

The head at 28fffaf cannot cancel an instance (it looks the id up as a name), so scale-down
repeats every few seconds and a delete never finishes; later heads still leave a delete
in `deleting` while CANCELLED instances remain in Pylet. Both show only over time, so the
backend keeps a short history per model.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

STUCK_AFTER_S = 30.0
FLAP_WINDOW_S = 60.0
FLAP_CHANGES = 4  # changes of desired or of ready within the window that make a flap (0→1→0→1→0);
# one cold start and its scale-to-zero change each twice, which is no flap


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class _History:
    last: tuple[int | None, int | None] | None = None
    changes: collections.deque = field(default_factory=collections.deque)  # (t, desired, ready)
    deleting_since: float | None = None


class ModelWatch:
    def __init__(self, stuck_after_s: float = STUCK_AFTER_S, window_s: float = FLAP_WINDOW_S,
                 changes: int = FLAP_CHANGES):
        self.stuck_after_s = stuck_after_s
        self.window_s = window_s
        self.flap_changes = changes
        self._models: dict[str, _History] = {}

    def observe(self, model: str, state: str, desired: int | None, ready: int | None, now: float) -> tuple[str, str]:
        """(status to show, problem in one line) for one model at one poll."""
        h = self._models.setdefault(model, _History())
        counts = (desired, ready)
        if h.last is not None and counts != h.last:
            h.changes.append((now, desired if desired != h.last[0] else None, ready if ready != h.last[1] else None))
        h.last = counts
        while h.changes and h.changes[0][0] < now - self.window_s:
            h.changes.popleft()
        if state == "deleting":
            if h.deleting_since is None:
                h.deleting_since = now
            waited = now - h.deleting_since
            if waited >= self.stuck_after_s:
                return (f"deleting (stuck {_duration(waited)})",
                        f"delete not finished after {_duration(waited)}: the head waits for its Pylet "
                        "instances to go (cancel/delete them in the Pylet instances pane)")
            return state, ""
        h.deleting_since = None
        for which, index in (("desired", 1), ("ready", 2)):
            values = [c[index] for c in h.changes if c[index] is not None]
            if len(values) >= self.flap_changes:
                span = "↔".join(str(v) for v in sorted(set(values)))
                return (f"flapping {span}",
                        f"{which} replicas changed {len(values)} times in {self.window_s:.0f}s (a scale-down that "
                        "never takes effect: the head cannot cancel its instance)")
        return state, ""

    def forget_except(self, models: set[str]) -> None:
        for gone in set(self._models) - models:
            del self._models[gone]
