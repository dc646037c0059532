"""Actions on rows: what is allowed, the confirmation, running it in a thread, and
the follow-up it asks for (a text viewer, an interactive command, a log)."""

from __future__ import annotations

import subprocess
from functools import partial
from typing import Any

from servedeck.app.screens import ConfirmScreen, TextScreen, ValueScreen
from servedeck.backends.base import Action, ActionResult, OpenLog, RunInteractive, ShowText, find_action
from servedeck.text import safe, strip_control
from servedeck.widgets.panes import FOLLOW_UPS
from servedeck.widgets.resource_table import ResourceTable


class RowActions:
    """Mixed into the App; uses its `specs`, `fleet`, `readonly`, `poller`, `_table`."""

    def selected_entry(self, pane: str) -> tuple[str, Any] | None:
        if pane not in self.specs:
            return None
        return self._table(pane).selected()

    def pane_action(self, pane: str, action_id: str) -> Action | None:
        return next((a for a in self._table(pane).pane_actions if a.id == action_id), None)

    def selection_actions(self) -> list[tuple[str, str, Action, str]]:
        """(pane, pane title, action, label) for the palette, from the current selection."""
        pane = self.current_pane
        entry = self.selected_entry(pane)
        out = []
        for action in self._table(pane).pane_actions:
            if action.needs_row and entry is None:
                continue
            label = self._row_label(pane, entry) if action.needs_row else self.pane_title(pane)
            out.append((pane, self.pane_title(pane), action, label))
        return out

    def _row_label(self, pane: str, entry) -> str:
        backend, row = entry
        return safe(f"{getattr(row, self.specs[pane].row_key, '?')} ({backend})")

    def _action_state(self, pane: str, action_id: str) -> tuple[bool, str]:
        action = self.pane_action(pane, action_id)
        if action is None:
            return False, "not offered here"
        if self.readonly and action.mutating:
            return False, "read-only"
        runners = self._runners_for(pane, action_id)
        if not runners:
            return False, "not supported by this row's backend"
        return True, ""

    def _runners_for(self, pane: str, action_id: str) -> list:
        """The backends an action would run on: the selected row's, or for row-less
        actions every backend of the pane that offers it."""
        action = self.pane_action(pane, action_id)
        if action is not None and not action.needs_row:
            return [
                r for r in self.fleet.runners
                if find_action(type(r.backend), action_id) and pane in {p.key for p in r.backend.panes}
            ]
        entry = self.selected_entry(pane)
        if entry is None:
            return []
        runner = self.fleet.by_name(entry[0])
        return [runner] if runner is not None and find_action(type(runner.backend), action_id) else []

    def action_allowed(self, pane: str, action_id: str, entry) -> bool | None:
        """For check_action: None greys the binding out (shown disabled), True enables it."""
        enabled, _ = self._action_state(pane, action_id)
        return True if enabled else None

    def on_resource_table_action_requested(self, event: ResourceTable.ActionRequested) -> None:
        self.request_row_action(event.pane, event.action_id)

    def request_row_action(self, pane: str, action_id: str) -> None:
        action = self.pane_action(pane, action_id)
        if action is None:
            return
        if self.readonly and action.mutating:
            self.notify(f"refused in read-only mode: {action.title.lower()}", severity="warning")
            return
        runners = self._runners_for(pane, action_id)
        if not runners:
            self.notify("nothing selected" if action.needs_row else f"no backend offers {action.title.lower()}",
                        severity="warning")
            return
        runner = runners[0]
        entry = self.selected_entry(pane) if action.needs_row else None
        row = entry[1] if entry else None
        label = self._row_label(pane, entry) if entry else safe(runner.name)
        go = partial(self._maybe_confirm, runner.name, action, row, label)
        if action.prompt:
            self.push_screen(ValueScreen(action.prompt), lambda value: value is not None and go(value))
        else:
            go(None)

    def _maybe_confirm(self, backend: str, action: Action, row: Any, label: str, value: str | None) -> None:
        if not action.confirm:
            self._run_row_action(backend, action, row, label, value)
            return
        target = f"{label}" + (f" with {safe(value)!r}" if value else "")
        question = f"{action.title} [b]{target}[/b]?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_row_action(backend, action, row, label, value)
            else:
                self.notify(f"{action.title.lower()} {label}: cancelled")

        self.push_screen(ConfirmScreen(question), answered)

    def _run_row_action(self, backend: str, action: Action, row: Any, label: str, value: str | None) -> None:
        runner = self.fleet.by_name(backend)
        if runner is None:
            return
        if action.mutating:
            self.notify(f"{action.title} {label}…", timeout=2)

        def work() -> None:
            result = runner.perform(action.id, row, readonly=self.readonly, value=value)
            self.call_from_thread(self._action_done, backend, action, label, result)

        self.run_worker(work, thread=True, group=f"action:{backend}", exit_on_error=False)

    def _action_done(self, backend: str, action: Action, label: str, result: ActionResult) -> None:
        if result.follow_up is not None and result.ok:
            self.follow_up(result.follow_up)
        if action.mutating or not result.ok or result.follow_up is None:
            severity = "information" if result.ok else "error"
            self.notify(f"{action.title} {label}: {safe(result.message)}", severity=severity)
        if action.mutating:
            self.poller.poll(backend)

    # -- follow-ups -------------------------------------------------------------------

    def follow_up(self, request: Any) -> None:
        """Act on what an action asked for once it ran."""
        if isinstance(request, ShowText):
            self.push_screen(TextScreen(safe(request.title), strip_control(request.text)))
        elif isinstance(request, RunInteractive):
            self.run_interactive(request)
        elif isinstance(request, OpenLog):
            self.open_log(request)
        elif type(request) in FOLLOW_UPS:
            FOLLOW_UPS[type(request)](self, request)
        else:
            self.notify(f"cannot show a {type(request).__name__}", severity="error")

    def run_interactive(self, request: RunInteractive) -> None:
        """Suspend the cockpit, hand the terminal to the command, come back when it ends."""
        try:
            with self.suspend():
                rc = subprocess.call(list(request.argv))
        except Exception as exc:  # no terminal to hand over (a test, a pipe)
            self.notify(f"cannot run {safe(request.title or request.argv[0])}: {safe(exc)}", severity="error")
            return
        self.notify(f"{safe(request.title or request.argv[0])} exited with status {rc}")

    def open_log(self, request: OpenLog) -> None:
        if "logs" not in self.specs:
            self.notify("no logs pane in this build", severity="error")
            return
        self.show_pane("logs")
        self.with_body("logs", lambda body: body.open_source(request.source, request.title))
