"""The order a sortable table puts values in: numbers, then text, then empties."""

from __future__ import annotations

from typing import Any


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
