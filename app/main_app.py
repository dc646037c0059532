"""The cockpit: wiring of the status bar, the panes, the prompt, and the poll scheduler.

Backends produce snapshots in worker threads; this App only routes them to widgets and
routes keys to actions. Everything else lives in its own module.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable
from importlib.resources import files

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widget import AwaitMount
from textual.widgets import ContentSwitcher, Footer, Input, Static

from servedeck.app import panes as pane_catalog
from servedeck.app.palette import CockpitCommands
from servedeck.app.poller import PollScheduler
from servedeck.app.row_actions import RowActions
from servedeck.app.screens import HelpEntry, HelpScreen
from servedeck.backends.base import Action, Health, PaneSpec, Snapshot
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import merge_rows
from servedeck.overview.events import EventFeed, events_path
from servedeck.text import safe
from servedeck.widgets.cells import human_duration
from servedeck.widgets.prompt_line import PromptLine
from servedeck.widgets.panes import discover as discover_pane_bodies
from servedeck.widgets.line_table import LineTable, line_body
from servedeck.widgets.resource_table import SEP, ResourceTable
from servedeck.widgets.status_bar import BackendStatusBar

STYLES = files("servedeck.styles") / "servedeck.tcss"
CLOSE_GRACE_S = 1.0  # how long quitting waits for backends to close their connections


class PaneView(Vertical):
    """One pane: a one-line header (counts, filter, stale sources) over its table.

    Only the start pane (and the always-mounted ones) are mounted with the app; the
    others are mounted, header and body, the first time they are shown (`build`), so the
    first frame styles one pane, not two dozen (profiled: CSS matching per mounted node
    was most of the time from `App.run` to the first frame).
    """

    def __init__(self, spec: PaneSpec, table: ResourceTable, *, build: bool):
        super().__init__(id=f"pane-{spec.key}", classes="pane")
        self.spec = spec
        self.table = table
        self._build_now = build
        self._mounting: AwaitMount | None = None
        self._header = ""

    def compose(self) -> ComposeResult:
        if self._mounting is not None:
            return  # mounted late by `build`, which mounts its children at once
        yield Static(self.spec.title, classes="pane-header")
        if self._build_now:
            yield self.table

    @property
    def built(self) -> bool:
        """The body is mounted and composed: it can be drawn into."""
        return self.table.is_mounted

    def build(self, into: ContentSwitcher) -> AwaitMount | None:
        """Mount the body now (once), and the view itself into its switcher if it is not
        there yet; the awaitable finishes when it is composed."""
        if self._mounting is None:
            if not self.is_attached:
                # Header and body join the DOM now, not at compose: whoever shows the
                # pane can query its table in the same breath, as before.
                self._mounting = into.mount(self)
                self._mounting = self.mount(Static(self.spec.title, classes="pane-header"), self.table)
            elif not self._build_now:
                self._mounting = self.mount(self.table)
        return self._mounting

    def set_header(self, text: str) -> None:
        if text != self._header:  # the 1 s tick mostly finds nothing new to say
            self._header = text
            # One line, full width (styles): a new text never changes its size, so the
            # screen is not laid out again for it (that re-rendered every widget each tick).
            self.query_one(".pane-header", Static).update(text, layout=False)


class ServedeckApp(RowActions, App[int]):
    TITLE = "servedeck"
    CSS_PATH = str(STYLES)
    COMMANDS = App.COMMANDS | {CockpitCommands}

    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit servedeck"),
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        # Priority: handled before the key reaches the focused widget, so keys typed right
        # after `:` or `/` land in the prompt (bubbling to the App is asynchronous).
        Binding("colon", "command_mode", "Command", id="command", key_display=":", priority=True),
        Binding("slash", "filter", "Filter", id="filter", key_display="/", priority=True),
        Binding("p", "pause", "Pause", id="pause", tooltip="Pause or resume refresh"),
        Binding("ctrl+r,f5", "refresh", "Refresh", id="refresh", tooltip="Poll every backend now"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear_filter"),
        *[
            Binding(str(i), f"pane_number({i})", f"Pane {i}", show=False, id=f"pane.{i}")
            for i in range(1, 10)
        ],
    ]

    def __init__(self, loaded, *, readonly: bool = False, fleet: Fleet | None = None, clock=time.time,
                 events: EventFeed | None = None):
        super().__init__()
        self.clock = clock  # what "now" is for ages; tests pin it
        self.loaded = loaded
        self.readonly = readonly
        self.fleet = fleet or Fleet.from_config(loaded)
        self.snapshots: dict[str, Snapshot] = {r.name: r.snapshot for r in self.fleet.runners}
        self.bodies, always = discover_pane_bodies()
        self._always = set(always)  # panes without a backend (logs): mounted with the app, since
        # actions open sources in them in the same breath as they show them
        self.specs: dict[str, PaneSpec] = {"backends": pane_catalog.BACKENDS_PANE, **always, **self.fleet.pane_specs()}
        self.catalog = pane_catalog.PaneCatalog(self.specs, pane_catalog.installed_pane_specs)
        self.pane_keys = self.catalog.keys
        self.current_pane = self._start_pane()
        self.events = events or EventFeed(events_path())  # every state change observed, also on disk
        self.poller = PollScheduler(self, self.fleet.runners, self.visible_panes, self.on_snapshot)
        self._bindings_selection: tuple[str, str | None] | None = None  # see _refresh_bindings_on_new_selection

    # -- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield BackendStatusBar(id="status-bar")
        self._views: dict[str, PaneView] = {}
        with ContentSwitcher(initial=f"pane-{self.current_pane}", id="panes"):
            for key in self.pane_keys:
                now = key == self.current_pane or key in self._always
                view = PaneView(self.specs[key], self._table_for(key), build=now)
                self._views[key] = view
                if now:
                    yield view  # the others join the switcher when first shown
        yield PromptLine(self.catalog.completions(), id="prompt")
        yield Footer()

    def _table_for(self, key: str) -> ResourceTable:
        actions: dict[str, Action] = {}
        for runner in self.fleet.runners:
            for action in runner.backend.actions:
                if action.pane == key:
                    actions.setdefault(action.id, action)
        factory = self.bodies.get(key)
        if factory is not None:
            extra = {}
            if key == "logs" and "SERVEDECK_LOG_BUFFER" not in os.environ:  # the environment beats the file
                extra["capacity"] = self.loaded.config.ui.log_buffer_lines
            return factory(self.specs[key], tuple(actions.values()), id=f"table-{key}", **extra)
        return line_body(self.specs[key], actions.values(), id=f"table-{key}")

    def _start_pane(self) -> str:
        wanted = self.catalog.resolve(self.loaded.config.ui.start_pane) or self.pane_keys[0]
        return wanted if wanted in self.specs else self.pane_keys[0]

    def on_mount(self) -> None:
        self.query_one(PromptLine).display = False
        self._apply_ui_settings()
        self._render_status()
        self._render_backends_pane()
        self.show_pane(self.current_pane)
        # Polls start once the first frame is on screen: the SDK imports and the SSH
        # connection they bring happen in worker threads, after the frame, not before it.
        for runner in self.fleet.runners:  # no rows on screen yet: no per-row costs (container stats) in the first poll
            for spec in runner.backend.panes:
                runner.backend.show_rows(spec.key, frozenset())
        self.call_after_refresh(self.poller.start)
        self.set_interval(1.0, self._tick, name="ui tick")

    def _apply_ui_settings(self) -> None:
        ui = self.loaded.config.ui
        if ui.theme:
            if ui.theme in self.available_themes:
                self.theme = ui.theme
            else:
                names = ", ".join(sorted(self.available_themes))
                self.notify(f"unknown theme {ui.theme!r} in {self.loaded.source}; available: {names}", severity="warning")
        if ui.keys:
            known = self.binding_ids()
            unknown = sorted(set(ui.keys) - known)
            if unknown:
                self.notify(f"ui.keys: unknown binding ids {', '.join(unknown)} (see ? for ids)", severity="warning")
            self.set_keymap({k: v for k, v in ui.keys.items() if k in known})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("command_mode", "filter") and isinstance(self.focused, Input):
            return False  # typing `:` or `/` into a text field types it
        return True

    def binding_ids(self) -> set[str]:
        ids = {b.id for b in self.BINDINGS if isinstance(b, Binding) and b.id}
        for key in self.pane_keys:
            table = self._table(key)
            ids |= {b.id for b in table.BINDINGS if isinstance(b, Binding) and b.id}
        return ids

    # -- snapshots --------------------------------------------------------------------

    def visible_panes(self) -> set[str]:
        """The panes the poller fetches: the shown one, or those a joined body reads."""
        feeds = self._feeds(self.current_pane)
        return set(feeds) if feeds is not None else {self.current_pane}

    def _feeds(self, key: str) -> frozenset[str] | None:
        """Pane keys a body built from whole snapshots reads (the overview), else None."""
        try:
            return getattr(self._table(key), "feeds", None)
        except NoMatches:  # before compose: ask the body's class
            factory = self.bodies.get(key)
            return getattr(factory, "feeds", None)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshots[snapshot.backend] = snapshot
        self.events.observe(snapshot, self.clock())
        self._render_status()
        self._render_backends_pane()
        if self._feeds(self.current_pane) is not None:
            self._render_joined_soon()
        elif self.current_pane != "backends" and any(p == self.current_pane for p in snapshot.panes):
            self._render_pane(self.current_pane)
        elif self.current_pane != "backends":
            self._render_pane_header(self.current_pane)

    def on_line_table_cursor_moved(self, event: LineTable.CursorMoved) -> None:
        """The footer offers the actions of the selected row's backend: ask at once when
        the cursor moves, not at the next tick's header."""
        self._refresh_bindings_on_new_selection(self._table(self.current_pane))

    def on_resource_table_rows_on_screen(self, event: ResourceTable.RowsOnScreen) -> None:
        """Tell each backend of the pane which of its rows are on screen (container stats
        are sampled only for those)."""
        by_backend: dict[str, set[str]] = {}
        for key in event.keys:
            backend, _, row_key = key.partition(SEP)
            by_backend.setdefault(backend, set()).add(row_key)
        for runner in self.fleet.runners:
            if any(p.key == event.pane for p in runner.backend.panes):
                runner.backend.show_rows(event.pane, frozenset(by_backend.get(runner.name, ())))

    def _render_joined_soon(self) -> None:
        """The overview reads every snapshot: it is redrawn once a second, at the tick
        (ages included), however many polls came in meanwhile. Redrawing it per burst of
        polls (0.2 s after the first) cost two to four redraws a second on an idle lab."""
        self._joined_pending = True

    def _render_joined(self) -> None:
        self._joined_pending = False
        try:
            if self._feeds(self.current_pane) is not None:
                self._render_pane(self.current_pane)
        except NoMatches:  # the timer fired while the app was tearing its widgets down
            pass

    def _tick(self) -> None:
        """Ages in the header and pane headers move even when nothing is polled."""
        try:
            self._render_status()
            if getattr(self, "_joined_pending", False):
                self._render_joined()  # ages and every poll since the last tick, in one redraw
                if self._feeds(self.current_pane) is not None:
                    return
            self._render_pane_header(self.current_pane)
            if self._views[self.current_pane].built:
                self._table(self.current_pane).refresh_relative()
        except NoMatches:  # the tick fired while the app was tearing its widgets down
            pass

    def _render_status(self) -> None:
        self.query_one(BackendStatusBar).show(
            self.snapshots, paused=self.poller.paused, readonly=self.readonly, now=self.clock()
        )

    def _render_backends_pane(self) -> None:
        if not self._views["backends"].built:
            return  # a pane not shown yet is drawn when it is
        rows = []
        for runner in self.fleet.runners:
            snap = self.snapshots[runner.name]
            state = snap.state
            polling = ", ".join(sorted(self.poller.wanted(runner))) or "ping only"
            rows.append(
                pane_catalog.BackendRow(
                    name=snap.backend, kind=snap.kind, state=state.health.value, since_at=state.since,
                    latency_ms=state.latency_ms, polled_panes=polling, message=state.message, hint=state.hint,
                )
            )
        self._table("backends").show(("servedeck", r) for r in rows)
        if self.current_pane == "backends":
            self._render_pane_header("backends")

    def _render_pane(self, key: str) -> None:
        if key == "backends":
            self._render_backends_pane()
            return
        if self._views[key].built:
            body = self._table(key)
            if hasattr(body, "show_snapshots"):  # a joined body (overview, endpoints) reads every snapshot
                fed = {p for runner in self.fleet.runners for p in (s.key for s in runner.backend.panes)}
                body.show_snapshots(self.snapshots, self.clock(), events=self.events.newest(), fed=fed)
            else:
                body.show(merge_rows(self.snapshots, key))
        self._render_pane_header(key)

    def _render_pane_header(self, key: str) -> None:
        if not self._views[key].built:
            return  # drawn once its body is mounted
        table = self._table(key)
        summary = table.header_summary() if hasattr(table, "header_summary") else \
            f"{table.shown_count}/{table.total_count} rows"
        parts = [f"[b]{self.pane_title(key)}[/b] · {summary}"]
        if table.filter_text:
            parts.append(f"filter [reverse]{safe(table.filter_text)}[/reverse] (esc clears)")
        now = self.clock()
        for runner in self.fleet.runners:
            if key in {p.key for p in runner.backend.panes}:
                state = self.snapshots[runner.name].state
                if state.health is Health.DOWN:
                    parts.append(f"[red]{safe(runner.name)} down {human_duration(now - state.since)}: showing last data[/red]")
                elif state.health is Health.DEGRADED:
                    parts.append(f"[yellow]{safe(runner.name)} degraded: {safe(state.message, 80)}[/yellow]")
        self.query_one(f"#pane-{key}", PaneView).set_header(" │ ".join(parts))
        if key == self.current_pane:
            self._refresh_bindings_on_new_selection(table)

    def _refresh_bindings_on_new_selection(self, table) -> None:
        """Row actions are offered by the selected row's backend (`action_allowed`); the
        footer asks only when told to. Rows arriving in a shown empty pane, or a filter
        leaving none, changes what it should offer: tell it then, not on every redraw."""
        entry = table.selected()
        selection = (self.current_pane, entry[0] if entry else None)
        if selection != self._bindings_selection:
            self._bindings_selection = selection
            self.refresh_bindings()

    # -- panes ------------------------------------------------------------------------

    def _table(self, key: str) -> ResourceTable:
        """The body of a pane: a ResourceTable or a custom body with the same surface
        (mounted or not: a pane's body is mounted the first time the pane is shown)."""
        try:
            return self._views[key].table
        except (AttributeError, KeyError):  # before compose, or an unknown key
            return self.query_one(f"#table-{key}")

    def with_body(self, key: str, then: Callable[[Any], None]) -> None:
        """Run `then(body)` on a pane's body once it is mounted (now, if it is)."""
        view = self._views[key]
        if view.built:
            then(view.table)
            return

        async def when_mounted() -> None:
            mounting = view.build(self.query_one("#panes", ContentSwitcher))
            if mounting is not None:
                await mounting
            then(view.table)

        self.call_later(when_mounted)

    def pane_title(self, key: str) -> str:
        return self.specs[key].title if key in self.specs else key

    def show_pane(self, key: str) -> None:
        if key not in self.specs:
            self.notify(f"no configured backend feeds the {key} pane", severity="warning")
            return
        self.current_pane = key
        view = self._views[key]
        if view.is_attached:
            self.query_one("#panes", ContentSwitcher).current = f"pane-{key}"
        if not view.built:
            view.build(self.query_one("#panes", ContentSwitcher))
            self.with_body(key, lambda _body: self._reveal(key) if self.current_pane == key else None)
        self._table(key).focus()
        self._render_pane(key)
        self.poller.poll_panes({key})
        self.refresh_bindings()

    def _reveal(self, key: str) -> None:
        """A pane whose view was just mounted: switch to it and draw it."""
        self.query_one("#panes", ContentSwitcher).current = f"pane-{key}"
        self._table(key).focus()
        self._render_pane(key)

    def jump_to(self, pane: str, backend: str, row) -> None:
        """Show a pane with the cursor on one of its rows (`enter` on an overview item)."""
        self.show_pane(pane)
        if self.current_pane != pane:
            return
        self.with_body(pane, lambda table: self._select_row(pane, table, backend, row))

    def _select_row(self, pane: str, table, backend: str, row) -> None:
        if table.filter_text:
            table.set_filter("")
            self._render_pane_header(pane)
        if row is None or not hasattr(table, "row_id"):
            return
        key = table.row_id(backend, row)
        try:
            table.move_cursor(row=table.get_row_index(key), animate=False)
        except Exception:  # the row left its pane since the overview drew it
            self.notify(f"that row is no longer in {self.pane_title(pane)}", severity="warning")

    def on_jump_table_jumped(self, event) -> None:
        jump = event.jump
        self.jump_to(jump.pane, jump.backend, jump.row)

    def action_pane_number(self, number: int) -> None:
        if 1 <= number <= len(self.pane_keys):
            self.show_pane(self.pane_keys[number - 1])

    # -- prompt: commands and filter --------------------------------------------------

    def action_command_mode(self) -> None:
        self.query_one(PromptLine).open("command")

    def action_filter(self) -> None:
        self.query_one(PromptLine).open("filter", self._table(self.current_pane).filter_text)

    def action_clear_filter(self) -> None:
        table = self._table(self.current_pane)
        if table.filter_text:
            table.set_filter("")
            self._render_pane_header(self.current_pane)

    def on_prompt_line_typed(self, event: PromptLine.Typed) -> None:
        if event.mode == "filter":
            self._table(self.current_pane).set_filter(event.value)
            self._render_pane_header(self.current_pane)

    def on_prompt_line_cancelled(self, event: PromptLine.Cancelled) -> None:
        if event.mode == "filter":
            self.action_clear_filter()
        self._table(self.current_pane).focus()

    def on_prompt_line_entered(self, event: PromptLine.Entered) -> None:
        self._table(self.current_pane).focus()
        if event.mode == "command" and event.value:
            self.run_command(event.value)

    def run_command(self, text: str) -> None:
        word, _, rest = text.strip().partition(" ")
        word = word.lower().lstrip(":")
        pane = self.catalog.resolve(word)
        if pane is not None:
            self.show_pane(pane)
            if pane == "logs" and rest.strip() and self.current_pane == "logs":
                self.with_body("logs", lambda body: body.open_spec(rest.strip()))  # `:logs container/NAME`
            return
        command = pane_catalog.COMMANDS.get(word)
        if command is None:
            self.notify(f"unknown command {safe(word)!r} — try :help", severity="warning")
            return
        self.run_action(command)

    # -- global actions ---------------------------------------------------------------

    def action_refresh(self) -> None:
        self.poller.refresh_all()

    @property
    def paused(self) -> bool:
        return self.poller.paused

    def action_pause(self) -> None:
        self.poller.set_paused(not self.poller.paused)
        self.notify("refresh paused (p resumes)" if self.poller.paused else "refresh resumed")
        self._render_status()

    def action_help(self) -> None:
        note = "read-only: actions that change anything are disabled" if self.readonly else "esc closes"
        self.push_screen(HelpScreen(self.help_entries(), note))

    def help_entries(self) -> list[HelpEntry]:
        """Every binding of the focused pane and the global ones, as the help lists them."""
        entries: list[HelpEntry] = []
        table = self._table(self.current_pane)
        keymap = self._keymap if hasattr(self, "_keymap") else {}
        for scope, node, bindings in (
            (self.pane_title(self.current_pane), table, table.BINDINGS),
            ("global", self, self.BINDINGS),
        ):
            for binding in bindings:
                if not isinstance(binding, Binding):
                    continue
                keys = self._keys_display(binding, keymap)
                enabled, why = True, ""
                if binding.action.startswith("row_action("):
                    action_id = binding.action[len("row_action('"):-2]
                    enabled, why = self._action_state(self.current_pane, action_id)
                entries.append(HelpEntry(scope, keys, binding.description, binding.id or "", enabled, why))
        for action in table.pane_actions:
            if not action.key:
                enabled, why = self._action_state(self.current_pane, action.id)
                entries.append(HelpEntry(self.pane_title(self.current_pane), "ctrl+p", action.title, action.id, enabled, why))
        entries.append(HelpEntry("global", "ctrl+p", "Command palette", "command_palette", True))
        return entries

    def _keys_display(self, binding: Binding, keymap: dict) -> str:
        """Every key of a binding (after remapping) as the footer shows keys: `?`, `^r`."""
        keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
        shown = []
        for key in keys.split(","):
            key = key.strip()
            single = Binding(key, binding.action, key_display=binding.key_display if key == binding.key else None)
            shown.append(self.get_key_display(single))
        return " ".join(shown)

    # -- shutdown ---------------------------------------------------------------------

    async def action_quit(self) -> None:
        self.exit(0)

    def on_unmount(self) -> None:
        # Closing may block on a backend that hangs (a dead SSH peer): give it a moment in
        # a daemon thread, then leave; quitting never waits for a backend.
        closing = threading.Thread(target=self.fleet.close, name="close backends", daemon=True)
        closing.start()
        closing.join(CLOSE_GRACE_S)
