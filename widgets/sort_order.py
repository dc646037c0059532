"""Sorting shared by the sortable tables: the order values go in (numbers, then text,
then empties) and the `s`/`S` actions (each table re-orders itself in `_resort`)."""

from __future__ import annotations

from typing import Any, Iterable


def sort_value(value: Any) -> tuple:
    """Numbers before text before empties; job ids like `12_3` compare numerically."""
    if value is None or value == "":
        return (2, 0, "")
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    text = str(value)
    head = text.split("_")[0]
    if head.isdigit():
        return (0, int(head), text)
    return (1, 0, text.casefold())


def sort_values(values: Iterable[Any]) -> list[tuple]:
    """`sort_value` of each value, with the usual cells (non-empty text, plain integers)
    worked out inline: a first fill sorts 50,000 rows, and a call per row is most of it."""
    fallback = sort_value
    return [
        ((0, int(head), v) if (head := v.split("_", 1)[0]).isdigit() else (1, 0, v.casefold()))
        if type(v) is str and v
        else (0, v, "") if type(v) is int
        else fallback(v)
        for v in values
    ]


class SortActions:
    """`s` sorts by the next column, `S` reverses; the bindings stay on each table class
    (Textual reads BINDINGS from widget classes only)."""

    spec: Any
    sort_key: str | None
    sort_reverse: bool

    def _resort(self) -> None:
        raise NotImplementedError

    def _announce(self) -> None:
        title = next((c.title for c in self.spec.columns if c.key == self.sort_key), "arrival")
        self.notify(f"{self.spec.title}: sorted by {title}{' (descending)' if self.sort_reverse else ''}",  # type: ignore[attr-defined]
                    timeout=2)

    def action_cycle_sort(self) -> None:
        keys = [c.key for c in self.spec.columns]
        index = keys.index(self.sort_key) + 1 if self.sort_key in keys else 0
        self.sort_key = keys[index % len(keys)]
        self._resort()
        self._announce()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._resort()
        self._announce()
