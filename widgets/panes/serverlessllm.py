"""The Pylet workers and instances panes and the sllm panes: sortable tables whose state
columns use Pylet's and the sllm head's own words (ONLINE, SUSPECT, CANCELLING, deleting,
flapping...), and the jump from an instance to its worker or its model."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from servedeck.backends.pylet.links import JumpTo
from servedeck.text import safe
from servedeck.widgets.cells import STATE_STYLE, render_cell
from servedeck.widgets.line_table import sortable_line_body

WORDS = {
    "online": "good", "running": "good", "completed": "good", "active": "good", "ok": "good",
    "pending": "warn", "assigned": "warn", "suspect": "warn", "cancelling": "warn", "starting": "warn",
    "deleting": "warn", "unknown": "bad", "offline": "bad", "failed": "bad", "cancelled": "bad", "flapping": "bad",
}


class ServerlessCells:
    """State words of Pylet and sllm coloured; a stuck delete in red."""

    STATE_KEYS = frozenset({"status", "pylet_states"})

    def cell(self, column: str, row: Any) -> Any:
        value = getattr(row, column, None)
        if column in self.STATE_KEYS and value not in (None, "", ()):
            words = value if isinstance(value, tuple) else (value,)
            text = Text()
            for i, word in enumerate(words):
                head = str(word).split(" ")[0].lower()
                cls = "bad" if "stuck" in str(word) else WORDS.get(head)
                text.append((", " if i else "") + safe(word), style=STATE_STYLE[cls] if cls else "")
            return text
        if column == "problem" and value:
            return Text(safe(value), style="yellow")
        return render_cell(column, value)


def body(default_sort: str | None):
    return sortable_line_body(default_sort, ServerlessCells)


def jump(app, request: JumpTo) -> None:
    """Show the pane and put the cursor on the row the link names."""
    if request.pane not in app.specs:
        app.notify(f"no configured backend feeds the {request.pane} pane", severity="warning")
        return
    app.show_pane(request.pane)
    table = app._table(request.pane)
    for key, (_, row) in table._rows.items():
        if str(getattr(row, request.attr, "")) == request.value:
            table.move_cursor(row=table.get_row_index(key))
            return
    app.notify(f"{app.pane_title(request.pane)}: no row {safe(request.value)}", severity="warning")


PANE_BODIES = {
    "pylet_workers": body("id"),
    "pylet_instances": body(None),  # Pylet's order: newest first
    "sllm_models": body("id"),
    "sllm_nodes": body("id"),
    "sllm_heads": body("sllm"),
}
FOLLOW_UPS = {JumpTo: jump}
