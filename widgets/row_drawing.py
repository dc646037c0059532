"""Drawing one table row's cells into segments as DataTable does, at a fraction of its cost.

DataTable pads every cell with Rich's `Padding` and renders it through `render_lines`;
a GPU-pane refresh draws ~650 cells, and that was most of its time. Here a one-line
Text cell becomes its (text, style) runs directly (`text_runs`) and only what needs
Rich's own rules (cropping, several lines, tabs, justification, overlapping spans, any
other renderable) goes through Rich. `tests/slurm/test_line_table.py` checks the two
drawings equal on awkward texts.
"""

from __future__ import annotations

from typing import Any, Callable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.padding import Padding
from rich.protocol import is_renderable
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.renderables.styled import Styled

PADDING = 1  # cells each side of a column, as DataTable's default
EMPTY_TEXT = Text(no_wrap=True, end="")
NULL_STYLE = Style.null()
_PAD = (" " * PADDING, NULL_STYLE)
_PLAIN_JUSTIFY = (None, "default", "left")

StyleOf = Callable[[Any], Style]  # a style name (or Style) as the console reads it


def formatted_cell(value: Any) -> Any:
    """A cell value as DataTable would draw it in a one-line row. Strings are plain
    text, never markup: a job name like `[/x]` is shown, not parsed."""
    if value is None:
        return EMPTY_TEXT
    if isinstance(value, str):
        return Text(value, no_wrap=True, end="") if value else EMPTY_TEXT
    if isinstance(value, float):
        return Text(f"{value:.2f}", no_wrap=True, end="")
    if not is_renderable(value):
        return Text(str(value), no_wrap=True, end="")
    return value or EMPTY_TEXT


def text_runs(style_of: StyleOf, text: Text, width: int) -> list[tuple[str, Style | None]] | None:
    """One Text cell's (text, style) runs, padded to `width` and the cell padding, as
    Rich draws it through Padding and render_lines. None when the text needs Rich's own
    rules (too wide: cropped; several lines, tabs, justified, overlapping spans)."""
    plain = text.plain
    if text.justify not in _PLAIN_JUSTIFY or "\n" in plain or "\t" in plain:
        return None
    length = cell_len(plain)
    if length > width:
        return None
    base = style_of(text.style) if text.style else None
    runs = [_PAD]
    if not text.spans:
        if plain:
            runs.append((plain, base))
    else:
        at = 0
        for start, end, style in text.spans:
            if start < at:
                return None
            if start > at:
                runs.append((plain[at:start], base))
            if end > start:
                style = style_of(style) if isinstance(style, str) else style
                runs.append((plain[start:end], base + style if base else style))
                at = end
        if at < len(plain):
            runs.append((plain[at:], base))
    if length < width:
        runs.append((" " * (width - length), NULL_STYLE))
    runs.append(_PAD)
    return runs


def cell_segments(cells: list[Any], widths: list[int], pre: Style, post: Style,
                  layered: dict[int, tuple[Style, Style]], style_of: StyleOf,
                  console: Console, options: ConsoleOptions) -> list[Segment]:
    """A row's cells as segments, each cell padded to its column's width, with
    DataTable's layers (`pre`: row and component style; the cell's own; `post`: the
    cursor's). `layered` caches a cell style's layered style by id across rows (the
    caller owns and bounds it). Consecutive pieces of one style in one cell join into one
    segment; a segment never spans two cells, as in DataTable (screenshots compare them)."""
    segments: list[Segment] = []
    texts: list[str] = []  # the run being joined
    last: Style | None = None
    for cell, cell_width in zip(cells, widths):
        if texts:
            segments.append(Segment("".join(texts), last))
            texts = []
        runs = text_runs(style_of, cell, cell_width - 2 * PADDING) if type(cell) is Text else None
        drawn_by_rich = runs is None
        if drawn_by_rich:  # any other renderable, or text that needs Rich's rules
            runs = [(text, style) for text, style, _ in console.render_lines(
                Styled(Padding(cell, (0, PADDING)), pre_style=pre, post_style=post),
                options.update_dimensions(cell_width, 1).update(no_wrap=True),
            )[0]]
        for text, style in runs:
            if not drawn_by_rich:  # Rich applied the layers itself
                hit = layered.get(id(style))
                if hit is None or hit[0] is not style:
                    hit = layered[id(style)] = (style, pre + style + post)
                style = hit[1]
            if texts and style is not last and style != last:
                segments.append(Segment("".join(texts), last))
                texts = []
            texts.append(text)
            last = style
    if texts:
        segments.append(Segment("".join(texts), last))
    return segments
