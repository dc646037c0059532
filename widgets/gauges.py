"""Cells that draw numbers as pictures: a threshold-coloured bar, a sparkline.

The functions are pure, values to Rich `Text`, so the diffing ResourceTable compares
them like any other cell (text and style); gauge panes use them from its `cell` hook.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text


BLOCKS = "▁▂▃▄▅▆▇█"
LEVEL_INDEX = {"ok": 0, "warn": 1, "crit": 2}


def bar(fraction: float | None, label: str, *, width: int = 8, color: str = "green",
        stale: bool = False) -> Text:
    """`█████░░░ 63%`: a bar of `width` cells filled to `fraction` (0..1), then a label."""
    if fraction is None:
        return Text("n/a", style="dim")
    fraction = max(0.0, min(1.0, fraction))
    filled = round(fraction * width)
    text = Text()
    text.append("█" * filled, style="dim" if stale else color)
    text.append("░" * (width - filled), style="dim")
    text.append(f" {label}", style="dim" if stale else "")
    return text


def level_color(level: str, palette: Sequence[str]) -> str:
    return palette[LEVEL_INDEX.get(level, 0)]


def sparkline(values: Sequence[float], *, width: int = 20, low: float | None = None,
              high: float | None = None, color: str = "cyan", stale: bool = False) -> Text:
    """The last `width` values as block characters scaled between low and high
    (default: the values' own range, so a flat line stays at the bottom)."""
    shown = [v for v in values if v is not None][-width:]
    if not shown:
        return Text("", style="dim")
    lo = min(shown) if low is None else low
    hi = max(shown) if high is None else high
    span = hi - lo
    chars = []
    for v in shown:
        idx = 0 if span <= 0 else int((min(max(v, lo), hi) - lo) / span * (len(BLOCKS) - 1) + 0.5)
        chars.append(BLOCKS[idx])
    return Text("".join(chars), style="dim" if stale else color)


def number(value: float | None, unit: str = "", digits: int = 0) -> Text | str:
    """A value with its unit, or a dim n/a (DCGM blank sentinels arrive here as None)."""
    if value is None:
        return Text("n/a", style="dim")
    return f"{value:.{digits}f}{unit}"
