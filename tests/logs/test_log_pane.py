"""The logs pane driven with keys over real log sources (files, an endless generator)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from shell_support import make_app, wait_for
from servedeck.backends.base import OpenLog
from servedeck.backends.logs.files import FileSource
from servedeck.backends.logs.source import LogEvent, LogSource

SIZE = (120, 30)


class Endless(LogSource):
    """Prints numbered lines as fast as it can, like `yes` in a container."""

    name = "gen/endless"

    def __init__(self):
        self.produced = 0

    def events(self, *, tail, follow, stop):
        for i in itertools.count():
            if stop.is_set():
                return
            self.produced = i
            yield LogEvent("line", f"line {i} \x1b[32mok\x1b[0m")


def open_file(app, path: Path) -> None:
    app.follow_up(OpenLog(FileSource(path, f"file/{path.name}"), f"file/{path.name}"))


def texts(app) -> list[str]:
    return [line.plain for line in app._table("logs").view.lines]


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    f = tmp_path / "app.log"
    f.write_text("".join(
        f"line {i} {'ERROR' if i % 10 == 0 else 'info'} \x1b[31mred\x1b[0m\x1b[2J\x1b]0;title\x07\n" for i in range(200)
    ))
    return f


async def test_open_shows_lines_sanitised_with_colour_kept(log_file):
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        open_file(app, log_file)
        pane = app._table("logs")
        await wait_for(pilot, lambda: pane.total_count == 200)
        assert app.current_pane == "logs"
        assert texts(app)[0] == "line 0 ERROR red"
        line = pane.view.lines[0]
        assert "\x1b[31m" in line.text and "\x1b[2J" not in line.text and "\x1b]" not in line.text
        rendered = pane.view._text(0, line)
        coloured = [rendered.plain[s.start:s.end] for s in rendered.spans if getattr(s.style, "color", None)]
        assert coloured == ["red"]
        await pilot.pause(0.1)
        assert pane.view.scroll_y == pane.view.max_scroll_y > 0  # following: at the end


async def test_filter_search_wrap_and_timestamps(log_file):
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        open_file(app, log_file)
        pane = app._table("logs")
        view = pane.view
        await wait_for(pilot, lambda: pane.total_count == 200)
        await pilot.press("slash", *"ERROR", "enter")
        assert pane.shown_count == 20 and view.row_count == 20
        assert "ERROR" in str(app.query_one("#pane-logs .pane-header").render())
        await pilot.press("escape")
        assert pane.shown_count == 200
        await pilot.press("s", *"line 15 ", "enter")  # the newest match first while following
        assert view.current_match == 15 and not view.follow
        await pilot.press("s", *"error", "enter")
        first = view.current_match
        await pilot.press("n")
        assert view.current_match == first + 10
        await pilot.press("N", "N")
        assert view.current_match == first - 10
        rendered = view._text(view.current_match, view.lines[view.current_match])
        assert any(s.style and "goldenrod" in str(s.style) for s in rendered.spans)  # the match is highlighted
        rows = view.row_count
        await pilot.press("t")
        assert view.show_ts and "timestamps" in str(pane.query_one("#log-info").render())
        view.lines.append(view.lines[0]._replace(plain="x" * 500, text="x" * 500))  # one very long line
        view.reindex()
        await pilot.press("w")
        assert view.wrap and view.row_count > rows + 1
        await pilot.press("w")
        assert view.row_count == rows + 1


async def test_follow_pause_resume_and_jump_to_end(log_file):
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        open_file(app, log_file)
        pane = app._table("logs")
        view = pane.view
        await wait_for(pilot, lambda: pane.total_count == 200)
        await pilot.press("f")
        assert not view.follow and "paused" in str(pane.query_one("#log-info").render())
        await pilot.press("g")
        assert view.scroll_y == 0
        with log_file.open("a") as out:
            out.write("appended\n")
        await wait_for(pilot, lambda: pane.total_count == 201)
        await pilot.pause(0.1)
        assert view.scroll_y == 0  # paused: the view stays where it was
        await pilot.press("G")
        await pilot.pause(0.1)
        assert view.follow and view.scroll_y == view.max_scroll_y


async def test_bounded_buffer_counts_dropped_lines_and_keys_answer_during_a_burst(monkeypatch):
    monkeypatch.setenv("SERVEDECK_LOG_BUFFER", "1000")
    app, _ = make_app()
    source = Endless()
    async with app.run_test(size=SIZE) as pilot:
        app.follow_up(OpenLog(source, "endless"))
        pane = app._table("logs")
        view = pane.view
        await wait_for(pilot, lambda: view.dropped > 5000, timeout=20)
        assert len(view.lines) <= 1000
        assert view.lines[-1].plain.startswith("line ")
        assert f"{view.dropped:,} dropped" in str(pane.query_one("#log-info").render())
        await pilot.press("w")  # a key is handled while the source keeps printing
        assert view.wrap
        await pilot.press("1")  # and so is the app's pane switch
        assert app.current_pane == app.pane_keys[0]
        before = source.produced
        app._table("logs").close_source()
        await pilot.pause(0.3)
        assert source.produced - before < 100_000  # the reader stops when asked


async def test_open_prompt_resolves_a_file_spec_and_reports_unknown_kinds(log_file, monkeypatch):
    monkeypatch.chdir(log_file.parent)
    app, _ = make_app("ui: {start_pane: logs}\n")
    async with app.run_test(size=SIZE) as pilot:
        pane = app._table("logs")
        await pilot.press("o", *"file/app.log", "enter")
        await wait_for(pilot, lambda: pane.total_count == 200)
        assert pane.title == "file/app.log"
        await pilot.press("o", *"mars/x", "enter")
        await wait_for(pilot, lambda: any("mars/" in n.message for n in app._notifications))


async def test_a_source_that_ends_says_so(tmp_path):
    class Short(LogSource):
        name = "gen/short"

        def events(self, *, tail, follow, stop):
            yield LogEvent("line", "only line")

    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.follow_up(OpenLog(Short(), "short"))
        pane = app._table("logs")
        await wait_for(pilot, lambda: "the source ended" in str(pane.query_one("#log-info").render()))
        assert texts(app) == ["only line", "── the source ended ──"]
