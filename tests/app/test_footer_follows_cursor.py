"""The footer offers the actions of the selected row's backend. Moving the cursor onto a
row of a backend without them greys them out at once, not at the next tick."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from fakes import MemoryBackend
from servedeck.app.main_app import ServedeckApp
from servedeck.backends.base import BackendSettings
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text
from shell_support import wait_for

SIZE = (130, 24)


class InspectOnly(MemoryBackend):
    """Rows in the same pane, but the only action it offers is inspect."""

    kind = "memory-inspect-only"
    actions = tuple(a for a in MemoryBackend.actions if a.id == "container.inspect")


def greyed(app, key: str) -> bool | None:
    """Whether the footer shows that key greyed out (None: not in the footer)."""
    found = [k for k in app.screen.query(FooterKey) if k.key == key]
    return found[0].has_class("-disabled") if found else None


async def test_moving_onto_another_backends_row_updates_the_footer_at_once():
    full = MemoryBackend(BackendSettings(name="full", interval=3600), rows=("a",))
    inspect_only = InspectOnly(BackendSettings(name="ro", interval=3600), rows=("b",))
    app = ServedeckApp(load_text("ui: {start_pane: containers}\n", "test.yaml"),
                       fleet=Fleet([BackendRunner(full), BackendRunner(inspect_only)]))
    app._tick = lambda: None  # no 1 s tick: only the cursor's move may tell the footer
    async with app.run_test(size=SIZE) as pilot:
        table = app._table("containers")
        await wait_for(pilot, lambda: table.row_count == 2)
        await wait_for(pilot, lambda: table.selected()[0] == "full" and greyed(app, "x") is False)
        await pilot.press("down")
        assert table.selected()[0] == "ro"
        await wait_for(pilot, lambda: greyed(app, "x") is True)  # stop: not this backend's
        assert greyed(app, "i") is False  # inspect: offered by both
        await pilot.press("up")
        await wait_for(pilot, lambda: greyed(app, "x") is False)
