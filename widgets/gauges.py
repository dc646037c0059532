"""Cells that draw numbers as pictures: a threshold-coloured bar, a sparkline.

The functions are pure, values to Rich `Text`, so the diffing ResourceTable compares
them like any other cell (text and style); gauge panes use them from its `cell` hook.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Span, Text


BLOCKS = "▁▂▃▄▅▆▇█"
LEVEL_INDEX = {"ok": 0, "warn": 1, "crit": 2}


def bar(fraction: float | None, label: str, *, width: int = 8, color: str = "green",
        stale: bool = False) -> Text:
    """`█████░░░ 63%`: a bar of `width` cells filled to `fraction` (0..1), then a label."""
    if fraction is None:
        return Text("n/a", style="dim")
    fraction = max(0.0, min(1.0, fraction))
    filled = round(fraction * width)
    # The Text and its spans at once (as three appends would make them): a GPU pane's
    # refresh draws two bars per row on screen.
    spans = []
    if filled and (stale or color):
        spans.append(Span(0, filled, "dim" if stale else color))
    if width - filled > 0:
        spans.append(Span(filled, width, "dim"))
    plain = f"{'█' * filled}{'░' * (width - filled)} {label}"
    if stale:
        spans.append(Span(max(filled, width), len(plain), "dim"))
    return Text(plain, spans=spans)


def level_color(level: str, palette: Sequence[str]) -> str:
    return palette[LEVEL_INDEX.get(level, 0)]


def sparkline(values: Sequence[float], *, width: int = 20, low: float | None = None,
              high: float | None = None, color: str = "cyan", stale: bool = False) -> Text:
    """The last `width` values as block characters scaled between low and high
    (default: the values' own range, so a flat line stays at the bottom)."""
    shown = values[-width:] if None not in values else [v for v in values if v is not None][-width:]
    if not shown:
        return Text("", style="dim")
    lo = min(shown) if low is None else low
    hi = max(shown) if high is None else high
    span = hi - lo
    if span <= 0:
        chars = BLOCKS[0] * len(shown)
    else:
        top = len(BLOCKS) - 1
        chars = "".join([BLOCKS[int(((hi if v > hi else lo if v < lo else v) - lo) / span * top + 0.5)]
                         for v in shown])  # clamped to [lo, hi] inline: min/max calls were most of it
    return Text(chars, style="dim" if stale else color)


def number(value: float | None, unit: str = "", digits: int = 0) -> Text | str:
    """A value with its unit, or a dim n/a (DCGM blank sentinels arrive here as None)."""
    if value is None:
        return Text("n/a", style="dim")
    return f"{value:.{digits}f}{unit}"
