"""Pilot tests: the cockpit shell driven with keys, over in-memory backends."""

from __future__ import annotations


from textual.widgets import Static

from fakes import Box
from shell_support import make_app, wait_for
from servedeck.app.palette import CockpitCommands
from servedeck.app.screens import ConfirmScreen, HelpScreen
from servedeck.widgets.status_bar import BackendStatusBar

SIZE = (130, 32)


def status_text(app) -> str:
    return str(app.query_one(BackendStatusBar).render())


def header_text(app, pane: str) -> str:
    return str(app.query_one(f"#pane-{pane} .pane-header", Static).render())


async def test_number_keys_and_command_mode_switch_panes():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert app.current_pane == "overview"  # the start pane
        assert app.pane_keys[:4] == ["overview", "backends", "endpoints", "containers"]
        await pilot.press("4")
        assert app.current_pane == "containers"
        await pilot.press("2")
        assert app.current_pane == "backends"
        await pilot.press("colon", "c", "o", "enter")  # k9s-style alias
        assert app.current_pane == "containers"
        await pilot.press("colon", "b", "a", "c", "k")
        await wait_for(pilot, lambda: app.query_one("#prompt")._suggestion == "backends")
        await pilot.press("tab", "enter")  # completion fills the rest
        assert app.current_pane == "backends"


async def test_unknown_command_and_unfed_pane_are_reported_not_fatal():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"jobs", "enter")
        await pilot.press("colon", *"frobnicate", "enter")
        messages = [n.message for n in app._notifications]
        assert any("no configured backend feeds the jobs pane" in m for m in messages)
        assert any("unknown command 'frobnicate'" in m for m in messages)
        assert app.current_pane == "overview"


async def test_filter_hides_rows_and_escape_clears_it():
    app, _ = make_app("ui: {start_pane: containers}\n", rows=("alpha", "beta", "gamma"))
    async with app.run_test(size=SIZE) as pilot:
        table = app._table("containers")
        await wait_for(pilot, lambda: table.row_count == 3)
        await pilot.press("slash", "e", "t")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert table.selected()[1].id == "beta"
        assert "filter" in header_text(app, "containers")
        await pilot.press("enter")  # keep the filter, back to the table
        await pilot.pause(0.2)
        assert table.row_count == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 3)


async def test_help_lists_every_binding_of_the_pane_and_the_global_ones():
    app, _ = make_app("ui: {start_pane: containers}\n")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {e.binding_id for e in app.screen.entries}
        table = app._table("containers")
        expected = {b.id for b in app.BINDINGS} | {b.id for b in table.BINDINGS}
        assert expected <= listed
        body = str(app.screen.query_one("#help-body", Static).render())
        assert "Stop container" in body and "Quit" in body
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_readonly_disables_mutating_actions_and_refuses_them():
    app, backend = make_app("ui: {start_pane: containers}\n", readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app._table("containers").row_count == 2)
        entries = {e.binding_id: e for e in app.help_entries()}
        assert not entries["containers.container.stop"].enabled
        assert entries["containers.container.stop"].why_disabled == "read-only"
        assert entries["containers.container.inspect"].enabled  # read-only actions stay
        app.request_row_action("containers", "container.stop")  # as the palette would
        await pilot.pause(0.1)
        await pilot.press("x")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)
        assert backend.performed == []
        assert any("refused in read-only mode" in n.message for n in app._notifications)
        assert "READ-ONLY" in status_text(app)


async def test_destructive_action_asks_first_and_runs_only_on_yes():
    app, backend = make_app("ui: {start_pane: containers}\n")
    async with app.run_test(size=SIZE) as pilot:
        table = app._table("containers")
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert backend.performed == []
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: backend.performed == [("container.stop", "a")])
        await wait_for(pilot, lambda: table.selected()[1].state == "exited")


async def test_pause_stops_polling_and_refresh_forces_a_poll():
    app, backend = make_app("ui: {start_pane: containers}\n", interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(backend.polls) >= 3)
        await pilot.press("p")
        await pilot.pause(0.2)  # let an in-flight poll land
        paused_at = len(backend.polls)
        await pilot.pause(0.5)
        assert len(backend.polls) == paused_at
        assert "PAUSED" in status_text(app)
        await pilot.press("p")
        await wait_for(pilot, lambda: len(backend.polls) > paused_at)


async def test_ctrl_r_polls_now_even_with_a_long_interval():
    app, backend = make_app(interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(backend.polls) == 1)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(backend.polls) == 2)


async def test_hidden_panes_are_not_polled():
    app, backend = make_app(interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(backend.polls) >= 2)
        assert all(w == frozenset() for w in backend.polls)  # containers hidden: ping only
        await pilot.press("4")
        await wait_for(pilot, lambda: backend.polls[-1] == frozenset({"containers"}))


async def test_a_backend_that_goes_down_shows_down_keeps_last_rows_and_recovers():
    app, backend = make_app("ui: {start_pane: containers}\n", interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        table = app._table("containers")
        await wait_for(pilot, lambda: table.row_count == 2)
        backend.down = True
        await wait_for(pilot, lambda: "down" in status_text(app))
        assert "showing last data" in header_text(app, "containers")
        assert table.row_count == 2
        backend.down = False
        await wait_for(pilot, lambda: "down" not in status_text(app))


async def test_a_stuck_backend_does_not_stall_the_ui():
    app, backend = make_app(interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(backend.polls) >= 1)
        backend.gate.clear()  # the next poll blocks in its thread
        await pilot.pause(0.3)
        await pilot.press("4")
        assert app.current_pane == "containers"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        backend.gate.set()


async def test_keys_can_be_remapped_in_config():
    config = "ui:\n  start_pane: containers\n  keys:\n    containers.container.stop: k\n    quit: ctrl+q\n"
    app, backend = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app._table("containers").row_count == 2)
        await pilot.press("x")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n", "q")
        assert app.is_running  # q no longer quits
        await pilot.press("ctrl+q")
    assert app.return_value == 0


async def test_theme_from_config_and_unknown_theme_warns():
    app, _ = make_app("ui: {theme: nord}\n")
    async with app.run_test(size=SIZE):
        assert app.theme == "nord"
    app, _ = make_app("ui: {theme: no-such-theme}\n")
    async with app.run_test(size=SIZE):
        assert any("unknown theme 'no-such-theme'" in n.message for n in app._notifications)


async def test_command_palette_offers_actions_on_the_selection():
    app, _ = make_app("ui: {start_pane: containers}\n")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app._table("containers").row_count == 2)
        provider = CockpitCommands(app.screen)
        titles = [t for t, _, _ in provider._commands()]
        assert "Stop container: a (mem)" in titles
        assert "Go to Backends" in titles


async def test_control_sequences_in_rows_are_not_drawn():
    app, backend = make_app("ui: {start_pane: containers}\n")
    backend.rows["a"] = Box("a", "running", "\x1b]0;pwned\x07safe\x1b[2Jtext")
    async with app.run_test(size=SIZE) as pilot:
        table = app._table("containers")
        await wait_for(pilot, lambda: table.row_count == 2)
        cell = table.get_row("mem\x1fa")[2]
        assert str(cell) == "safetext"


async def test_q_quits_cleanly():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
    assert app.return_value == 0


async def test_details_follow_up_opens_a_viewer_with_clean_text():
    app, backend = make_app("ui: {start_pane: containers}\n")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app._table("containers").row_count == 2)
        await pilot.press("i")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TextScreen")
        body = str(app.screen.query_one("#text-body", Static).render())
        assert "state: running" in body and "\x1b" not in body
        await pilot.press("escape")
        assert type(app.screen).__name__ != "TextScreen"


async def test_a_prompted_action_without_a_row_asks_for_its_value():
    app, backend = make_app("ui: {start_pane: containers}\n", rows=())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(backend.polls) >= 1)
        await pilot.press("n")
        assert type(app.screen).__name__ == "ValueScreen"
        await pilot.press(*"zed", "enter")
        await wait_for(pilot, lambda: backend.performed == [("container.create", "zed")])
        await wait_for(pilot, lambda: app._table("containers").row_count == 1)


async def test_a_prompted_action_is_refused_in_readonly_before_asking():
    app, backend = make_app("ui: {start_pane: containers}\n", readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        assert type(app.screen).__name__ != "ValueScreen"
        assert backend.performed == []


async def test_command_mode_opens_a_log_source_by_name(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("first line\nsecond line\n")
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *f"logs file/{log}", "enter")
        assert app.current_pane == "logs"
        await wait_for(pilot, lambda: "second line" in [l.plain for l in app._table("logs").query_one("#log-view").lines])


async def test_log_buffer_size_comes_from_config():
    app, _ = make_app("ui: {log_buffer_lines: 1234}\n")
    async with app.run_test(size=SIZE):
        assert app._table("logs").capacity == 1234


async def test_keys_typed_in_one_burst_after_colon_reach_the_prompt():
    """A terminal delivers `:co⏎` typed quickly in one read; none of it may go astray."""
    from textual import events

    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        burst = [("colon", ":"), ("c", "c"), ("o", "o"), ("enter", "\r")]
        for key, char in burst:  # queued together, no waiting in between
            app.post_message(events.Key(key, char))
        await wait_for(pilot, lambda: app.current_pane == "containers")


async def test_colon_and_slash_can_be_typed_into_a_text_field():
    app, backend = make_app("ui: {start_pane: containers}\n", rows=())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(backend.polls) >= 1)
        await pilot.press("n")  # the create action asks for a value
        await pilot.press(*"a:b/c", "enter")
        await wait_for(pilot, lambda: backend.performed == [("container.create", "a:b/c")])
