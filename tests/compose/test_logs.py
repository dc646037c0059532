"""Logs through the real Compose CLI: the whole project merged with a service prefix on
each line, one service alone, as `compose/...` log sources and as the verb."""

from __future__ import annotations

import threading

import pytest

from servedeck.backends.logs.resolve import resolve
from servedeck.backends.runner import BackendRunner
from servedeck.cli import main
from servedeck.lab.ports import wait_until

pytestmark = pytest.mark.integration


def lines_of(source, tail=-1):
    return [e.text for e in source.events(tail=tail, follow=False, stop=threading.Event()) if e.kind == "line"]


def test_project_logs_are_merged_with_prefixes(make_project, backend, config_file, capsys):
    project = make_project()
    project.compose("up", "-d", "web", "bad")  # web starts db first
    assert wait_until(lambda: sum("web-line-" in x for x in lines_of(resolve(f"compose/{project.name}",
                                                                             [BackendRunner(backend)]))) >= 2,
                      30, interval=0.5)
    merged = lines_of(resolve(f"compose/{project.name}", [BackendRunner(backend)]))
    assert any(x.startswith("web_1") and "| web-line-" in x for x in merged)
    assert any(x.startswith("bad_1") and "| bad-line-" in x for x in merged)
    assert any(x.startswith("db_1") and "| db-ready" in x for x in merged)

    one = lines_of(resolve(f"compose/{project.name}/web", [BackendRunner(backend)]))
    assert one and all(x.startswith("web_1") for x in one)

    capsys.readouterr()
    assert main(["--config", config_file, "compose", "-p", project.name, "logs", "-n", "1", "bad"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("bad_1") and "bad-line-" in out[0]


def test_following_sees_new_lines_and_stops_promptly(make_project, backend):
    project = make_project()
    project.compose("up", "-d", "bad")
    source = resolve(f"compose/{project.name}/bad", [BackendRunner(backend)])
    stop = threading.Event()
    seen: list[str] = []

    def read():
        for event in source.events(tail=0, follow=True, stop=stop):
            if event.kind == "line":
                seen.append(event.text)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert wait_until(lambda: len(seen) >= 3, 20)
    numbers = [int(x.rsplit("-", 1)[1]) for x in seen[:3]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    stop.set()
    reader.join(5)
    assert not reader.is_alive()


def test_unknown_project_is_not_found(backend):
    from servedeck.backends.logs.source import UnknownLogSource

    with pytest.raises(UnknownLogSource):
        resolve("compose/no-such-project-sdcompose", [BackendRunner(backend)])
