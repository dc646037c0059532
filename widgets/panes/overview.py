"""The overview pane, the cockpit's start: "needs attention" first, then a GPU gauge
strip by host, one small table per system, and the event feed.

It renders what `servedeck.overview` derives from the app's snapshots (no polling of
its own: `feeds` names the panes the poller fetches while it shows). Every line leads
somewhere: `enter` (or a click on a highlighted line) jumps to its row in its own pane.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from servedeck.backends.base import Column, PaneSpec, Snapshot
from servedeck.overview.attention import Attention, AttentionItem
from servedeck.overview.blocks import FED_BY, Block, GpuHost, blocks, gpu_hosts
from servedeck.overview.common import CRIT, WARN, Jump
from servedeck.overview.events import Event
from servedeck.text import safe
from servedeck.widgets.cells import human_duration
from servedeck.widgets.gauges import BLOCKS, bar

OVERVIEW_PANE = PaneSpec(
    key="overview", title="Overview", columns=(Column("subject", "What"),), row_key="subject",
    aliases=("ov", "home", "all", "dash"), order=5,
)
LEVEL_STYLE = {CRIT: "bold red", WARN: "yellow", "": ""}
FEED_ROWS = 12


class JumpTable(DataTable):
    """A few lines, each leading to a row of a pane; redrawn only when its lines change."""

    class Jumped(Message):
        def __init__(self, jump: Jump):
            super().__init__()
            self.jump = jump

    def __init__(self, columns: Iterable[str], **kwargs):
        super().__init__(cursor_type="row", show_cursor=True, **kwargs)
        self._columns = tuple(columns)
        self.jumps: list[Jump | None] = []
        self._shown: tuple = ()

    def on_mount(self) -> None:
        for title in self._columns:
            self.add_column(title, key=title)

    def set_lines(self, lines: list[tuple[tuple[Any, ...], Jump | None]]) -> None:
        cells = tuple(tuple(str(c) if not isinstance(c, Text) else (c.plain, str(c.style), tuple(c.spans)) for c in l) for l, _ in lines)
        if cells == self._shown:
            self.jumps = [j for _, j in lines]
            return
        if len(cells) == len(self._shown) and self.row_count == len(cells) and self._change_cells(lines, cells):
            return  # an age ticked: those cells were changed, not the table
        row = self.cursor_row
        self.clear()
        for i, (line, _) in enumerate(lines):
            self.add_row(*line, key=str(i))
        self.jumps = [j for _, j in lines]
        self._shown = cells
        if lines:
            self.move_cursor(row=min(row, len(lines) - 1), animate=False)

    def _change_cells(self, lines: list[tuple[tuple[Any, ...], Jump | None]], cells: tuple) -> bool:
        """Same number of lines: update the cells that differ in place, and say whether
        that was possible. Clearing and adding the rows again (for an age that moved a
        second) re-laid out the table and its scrollbars every second, and with them the
        whole overview. A cell that gets narrower needs the rebuild: a column's width only
        grows in place, and the table must look as if it were drawn afresh."""
        changed = [(i, title, value) for i, ((line, _), new, old) in enumerate(zip(lines, cells, self._shown))
                   for title, value, a, b in zip(self._columns, line, new, old) if a != b]
        if any(_width(value) < _width(self.get_cell(str(i), title)) for i, title, value in changed):
            return False
        for i, title, value in changed:
            self.update_cell(str(i), title, value, update_width=True)
        self.jumps = [j for _, j in lines]
        self._shown = cells
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        index = event.cursor_row
        if 0 <= index < len(self.jumps) and self.jumps[index] is not None:
            self.post_message(self.Jumped(self.jumps[index]))


def _width(value: Any) -> int:
    return value.cell_len if isinstance(value, Text) else cell_len(str(value))


def _styled(text: str, level: str) -> Text:
    return Text(text, style=LEVEL_STYLE.get(level, ""))


def attention_lines(items: list[AttentionItem], now: float) -> list[tuple[tuple[Any, ...], Jump | None]]:
    lines = []
    for item in items:
        mark = "✖" if item.severity == CRIT else "▲"
        lines.append(((_styled(mark, item.severity), _styled(item.subject, item.severity),
                       human_duration(now - item.since), item.why), item.jump))
    return lines


def util_strip(host: GpuHost) -> Text:
    """One character per GPU, its height the utilisation, coloured by the GPU's worst level."""
    text = Text()
    for gpu in host.gpus:
        util = gpu.util_percent
        char = "·" if util is None else BLOCKS[min(len(BLOCKS) - 1, int(util / 100 * (len(BLOCKS) - 1) + 0.5))]
        levels = {gpu.level_of(f) for f in ("util_percent", "mem_percent", "temp_c")}
        color = "red" if gpu.xid_errors or "crit" in levels else "yellow" if "warn" in levels else "green"
        text.append(char, style="dim" if gpu.stale else color)
    return text


def gpu_lines(hosts: list[GpuHost]) -> list[tuple[tuple[Any, ...], Jump | None]]:
    lines = []
    for host in hosts:
        util, mem, temp = host.mean_util, host.mean_mem, host.max_temp
        xid = Text(str(host.xid), style="bold red") if host.xid else Text("0", style="dim")
        lines.append(((_styled(safe(host.host, 18), host.level), f"{len(host.gpus)}", util_strip(host),
                       bar(None if util is None else util / 100, f"{util:3.0f}%" if util is not None else "", width=6),
                       bar(None if mem is None else mem / 100, f"{mem:3.0f}%" if mem is not None else "", width=6),
                       _styled("—" if temp is None else f"{temp:.0f}°C", host.level), xid),
                      Jump("gpus", host.backend, host.gpus[0]) if host.gpus else None))
    return lines


def block_lines(block: Block) -> list[tuple[tuple[Any, ...], Jump | None]]:
    lines = [(tuple(_styled(c, row.level) if i == 0 or row.level else c for i, c in enumerate(row.cells)), row.jump)
             for row in block.rows]
    if block.more:
        lines.append(((Text(f"+{block.more} more", style="dim"),) + ("",) * (len(block.columns) - 1), None))
    return lines


def feed_lines(events: list[Event]) -> list[tuple[tuple[Any, ...], Jump | None]]:
    lines = []
    for event in events[:FEED_ROWS]:
        level = CRIT if event.severity == "crit" else WARN if event.severity == "warn" else ""
        lines.append(((time.strftime("%H:%M:%S", time.localtime(event.at)), _styled(event.kind, level),
                       safe(event.subject, 40), safe(event.message, 80)), None))
    return lines


class OverviewBody(VerticalScroll):
    """The overview pane's body: the `ResourceTable` surface the app expects, over blocks."""

    BINDINGS = [
        Binding("tab", "app.focus_next", "Next block", show=False, id="overview.next"),
        Binding("shift+tab", "app.focus_previous", "Previous block", show=False, id="overview.previous"),
    ]
    feeds = FED_BY
    pane_actions: tuple = ()
    filter_text = ""

    def __init__(self, spec: PaneSpec, actions: Iterable = (), **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.attention = Attention()
        self.items: list[AttentionItem] = []
        self.fed: set[str] = set()  # pane keys some configured backend feeds (blocks of the others hide)
        self._snapshots: Mapping[str, Snapshot] = {}
        self._now = time.time()
        self._titles: dict[str, tuple] = {}  # what each title Static shows now

    def compose(self) -> ComposeResult:
        yield Static("", id="ov-attention-title", classes="ov-title")
        yield JumpTable(("", "what", "for", "why"), id="ov-attention", classes="ov-table")
        yield Static("GPUs", id="ov-gpus-title", classes="ov-title")
        yield JumpTable(("host", "n", "util by GPU", "util", "mem", "temp", "XID"), id="ov-gpus", classes="ov-table")
        with Container(id="ov-grid"):
            for block in blocks({}):
                with Container(id=f"ov-block-{block.key}", classes="ov-block"):
                    yield Static(block.title, id=f"ov-title-{block.key}", classes="ov-title")
                    yield JumpTable(block.columns, id=f"ov-{block.key}", classes="ov-table")
        yield Static("Events, newest first", id="ov-events-title", classes="ov-title")
        yield JumpTable(("time", "event", "subject", "what"), id="ov-events", classes="ov-table")

    def on_resize(self) -> None:
        self._reflow()

    def _reflow(self) -> None:
        width = self.size.width
        columns = 3 if width >= 170 else 2 if width >= 110 else 1
        grid = self.query_one("#ov-grid")
        if grid.styles.grid_size_columns != columns:
            grid.styles.grid_size_columns = columns

    def focus(self, scroll_visible: bool = True):
        self.query_one("#ov-attention", JumpTable).focus(scroll_visible)
        return self

    # -- the ResourceTable surface -------------------------------------------------------

    def show(self, entries) -> None:
        """Rows of the `overview` key: none (the overview reads whole snapshots)."""

    def show_snapshots(self, snapshots: Mapping[str, Snapshot], now: float, events: list[Event] = (),
                       fed: Iterable[str] = ()) -> None:
        self._snapshots, self._now, self.fed = snapshots, now, set(fed)
        self.items = self.attention.items(snapshots, now)
        self._draw(list(events))

    def _draw(self, events: list[Event]) -> None:
        now = self._now
        crit = sum(1 for i in self.items if i.severity == CRIT)
        if self.items:
            self._title("#ov-attention-title", Text.assemble(
                ("Needs attention ", "bold"), (f"{crit} critical", "bold red" if crit else "dim"),
                f", {len(self.items) - crit} warnings"))
        else:
            self._title("#ov-attention-title", Text.assemble(
                ("Needs attention ", "bold"), ("nothing: every backend answers and nothing is wrong", "green")))
        table = self.query_one("#ov-attention", JumpTable)
        table.set_lines(attention_lines(self.items, now))
        table.display = bool(self.items)
        hosts = gpu_hosts(self._snapshots)
        self.query_one("#ov-gpus", JumpTable).set_lines(gpu_lines(hosts))
        gpus = sum(len(h.gpus) for h in hosts)
        self._title("#ov-gpus-title", Text.assemble(("GPUs ", "bold"), f"{gpus} on {len(hosts)} hosts"))
        for name in ("#ov-gpus-title", "#ov-gpus"):
            self.query_one(name).display = "gpus" in self.fed or bool(hosts)
        for block in blocks(self._snapshots):
            box = self.query_one(f"#ov-block-{block.key}")
            box.display = block.key in self.fed or bool(block.rows) or block.key == "backends"
            self._title(f"#ov-title-{block.key}", Text.assemble((block.title + " ", "bold"), (block.summary, "dim")))
            self.query_one(f"#ov-{block.key}", JumpTable).set_lines(block_lines(block))
        self.query_one("#ov-events", JumpTable).set_lines(feed_lines(events))
        self._title("#ov-events-title", Text.assemble(("Events ", "bold"), (f"newest first ({len(events)} kept)", "dim")))

    def _title(self, selector: str, text: Text) -> None:
        """Only when the text changed, and without laying the pane out again: a title is
        one line, full width (styles), whatever it says."""
        key = (text.plain, tuple(text.spans))
        if self._titles.get(selector) != key:
            self._titles[selector] = key
            self.query_one(selector, Static).update(text, layout=False)

    def set_filter(self, text: str) -> None:
        self.filter_text = ""  # the overview has nothing to filter: `/` works in the panes

    def selected(self) -> tuple[str, Any] | None:
        return None

    def refresh_relative(self) -> None:
        """Ages of the attention items move with the clock."""
        if self.items:
            self._now = getattr(self.app, "clock", time.time)()
            self.query_one("#ov-attention", JumpTable).set_lines(attention_lines(self.items, self._now))

    def header_summary(self) -> str:
        """What the pane header says next to the title."""
        if not self.items:
            return "nothing needs attention"
        return f"{len(self.items)} need{'s' if len(self.items) == 1 else ''} attention"

    @property
    def shown_count(self) -> int:
        return len(self.items)

    @property
    def total_count(self) -> int:
        return len(self.items)


def make_overview(spec, actions, **kwargs) -> OverviewBody:
    return OverviewBody(spec, actions, **kwargs)


PANE_BODIES = {"overview": make_overview}
ALWAYS_PANES = {"overview": OVERVIEW_PANE}
