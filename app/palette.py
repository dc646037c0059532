"""Command-palette commands built from what is on screen: the selected row's actions,
the panes, and the cockpit's own controls."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class CockpitCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        """(title, help, callback) for everything that applies right now."""
        app = self.app
        out: list[tuple[str, str, object]] = []
        for pane, title, action, label in app.selection_actions():
            verb = action.title
            disabled = "" if app.action_allowed(pane, action.id, app.selected_entry(pane)) else " (disabled)"
            out.append(
                (f"{verb}: {label}{disabled}", f"{action.id} on the selected row", partial(app.request_row_action, pane, action.id))
            )
        for key in app.pane_keys:
            out.append((f"Go to {app.pane_title(key)}", f":{key}", partial(app.show_pane, key)))
        out.append(("Refresh now", "poll every backend now", app.action_refresh))
        out.append(("Pause refresh" if not app.paused else "Resume refresh", "stop or restart polling", app.action_pause))
        out.append(("Help", "list every key", app.action_help))
        return out

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
