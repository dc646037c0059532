"""The Builds and Images panes of the dynamo backend.

Builds: the chain of one build.sh invocation is grouped (the invocation shows once, on
its first build), newest invocation first, states coloured; a running row shows the
step it is on. Images: the generic table. Running an image first shows run.sh's dry-run
line and asks; only a yes runs it (`ConfirmRun` follow-up).
"""

from __future__ import annotations

from typing import Any, Iterable

from rich.markup import escape
from rich.text import Text

from servedeck.app.screens import ConfirmScreen
from servedeck.backends.base import Action, PaneSpec
from servedeck.backends.dynamo.backend import ConfirmRun
from servedeck.text import safe
from servedeck.widgets.cells import render_cell
from servedeck.widgets.resource_table import ResourceTable, table_class_for

BUILD_STATE_STYLE = {"done": "green", "running": "bold cyan", "queued": "yellow", "failed": "bold red",
                     "cancelled": "magenta", "skipped": "dim", "lost": "bold red"}


class BuildsTableMixin:
    """Grouping and colours for the builds table."""

    group_columns = frozenset({"invocation"})

    def order(self, entries: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        invocations = sorted({row.invocation for _, row in entries}, reverse=True)
        rank = {inv: i for i, inv in enumerate(invocations)}
        return sorted(entries, key=lambda e: (rank[e[1].invocation], e[1].id.rsplit("-", 1)[-1].zfill(3), e[0]))

    def group(self, row: Any) -> Any:
        return row.invocation

    def cell(self, column: str, row: Any):
        if column == "state":
            return Text(row.state, style=BUILD_STATE_STYLE.get(row.state, ""))
        if column == "failure" and row.failure:
            return Text(safe(row.failure, 200), style="red")
        if column == "failure" and row.state == "running" and row.current:
            return Text(safe(row.current, 200), style="dim")
        return render_cell(column, getattr(row, column, None))


def builds_body(spec: PaneSpec, actions: Iterable[Action], id: str | None = None, **kwargs) -> ResourceTable:
    base = table_class_for(spec, actions)
    cls = type("BuildsTable", (BuildsTableMixin, base), {})
    return cls(spec, id=id, **kwargs)


def confirm_run(app, request: ConfirmRun) -> None:
    """Show the docker run line run.sh would execute; run it only on yes."""
    question = (f"Run [b]{escape(safe(request.row.tag))}[/b] on {escape(safe(request.backend))}?\n\n"
                f"run.sh --dry-run:\n{escape(safe(request.dry_run, 2000))}")

    def answered(yes: bool | None) -> None:
        if not yes:
            app.notify(f"run {safe(request.row.tag)}: cancelled")
            return
        action = Action(request.action_id, "Run image now", "dynamo_images", mutating=True)
        app._run_row_action(request.backend, action, request.row, safe(request.row.tag), request.flags)

    app.push_screen(ConfirmScreen(question), answered)


PANE_BODIES = {"builds": builds_body}
FOLLOW_UPS = {ConfirmRun: confirm_run}
