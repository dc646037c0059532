"""Container log streams against the real Docker Engine: timestamps, follow across a
stop/start and a recreation, and a daemon restart in the middle of a stream."""

from __future__ import annotations

import threading
import time

import docker
import pytest

from container_support import build_busybox
from servedeck.backends.docker.logsource import DockerLogSource, split_timestamp

pytestmark = pytest.mark.integration

COUNTER = "i=0; while true; do i=$((i+1)); echo n$i; sleep 0.1; done"


class Follower:
    def __init__(self, source, tail: int = -1):
        self.events = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(source, tail), daemon=True)
        self.thread.start()

    def _run(self, source, tail):
        for e in source.events(tail=tail, follow=True, stop=self.stop):
            self.events.append(e)

    def lines(self):
        return [e for e in self.events if e.kind == "line"]

    def statuses(self):
        return [e.text for e in self.events if e.kind == "status"]

    def until(self, predicate, timeout: float = 60.0, what: str = ""):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"never happened: {what}; statuses {self.statuses()}, last lines "
                             f"{[e.text for e in self.lines()[-3:]]}")

    def close(self):
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the source did not return after stop"


def test_split_timestamp():
    ts, text = split_timestamp("2024-05-01T12:00:03.250000000Z hello world")
    assert text == "hello world" and ts == pytest.approx(1714564803.25)
    assert split_timestamp("no stamp here") == (None, "no stamp here")


def test_tail_and_nonfollow_read(lab, run_container):
    c = run_container("for i in 1 2 3 4 5; do echo line$i; done; printf 'bad \\377 utf8\\n'; sleep 600")
    src = DockerLogSource(lab.docker_url, c.name)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and b"utf8" not in c.logs():
        time.sleep(0.1)
    events = list(src.events(tail=2, follow=False, stop=threading.Event()))
    assert [e.text for e in events] == ["line5", "bad \ufffd utf8"]
    assert all(e.ts and abs(e.ts - time.time()) < 600 for e in events)
    gone = list(DockerLogSource(lab.docker_url, "sdctr-no-such").events(tail=5, follow=False, stop=threading.Event()))
    assert gone[0].kind == "status" and "does not exist" in gone[0].text


def test_follow_survives_stop_start_and_recreation(lab, run_container, docker_client):
    c = run_container(COUNTER)
    f = Follower(DockerLogSource(lab.docker_url, c.name, label=c.name))
    try:
        f.until(lambda: len(f.lines()) >= 5, what="first lines")
        c.stop(timeout=0)
        f.until(lambda: any("not running" in s for s in f.statuses()), what="exit reported")
        seen = len(f.lines())
        c.start()
        f.until(lambda: any("resumed" in s for s in f.statuses()), what="resume reported")
        f.until(lambda: len(f.lines()) >= seen + 5, what="lines after restart")
        stamps = [(e.ts, e.text) for e in f.lines()]
        assert len(stamps) == len(set(stamps)), "a line was shown twice after resuming"
        name = c.name
        c.remove(force=True)
        f.until(lambda: any("does not exist" in s for s in f.statuses()), what="removal reported")
        run_container("echo recreated; sleep 600", name=name)
        f.until(lambda: f.lines()[-1].text == "recreated", what="the new container's line")
    finally:
        f.close()


def test_daemon_restart_during_a_stream(own_engine, tmp_path):
    client = docker.DockerClient(base_url=own_engine.url, timeout=60)
    build_busybox(client, tmp_path)
    c = client.containers.run("sdctr-busybox:latest", ["sh", "-c", COUNTER], name="sdctr-restart", detach=True,
                              network_mode="host", restart_policy={"Name": "always"})
    client.close()
    f = Follower(DockerLogSource(own_engine.url, c.name, label=c.name))
    try:
        f.until(lambda: len(f.lines()) >= 5, what="first lines")
        own_engine.stop()
        f.until(lambda: any("unreachable" in s or "not running" in s for s in f.statuses()), what="daemon loss reported")
        seen = len(f.lines())
        own_engine.start()
        f.until(lambda: any("resumed" in s for s in f.statuses()), what="resume reported")
        f.until(lambda: len(f.lines()) >= seen + 5, what="lines after the daemon came back")
    finally:
        f.close()


def test_tty_container_stream_has_no_frames(lab, run_container):
    c = run_container("echo tty-one; echo tty-two; sleep 600", tty=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and b"tty-two" not in c.logs():
        time.sleep(0.1)
    src = DockerLogSource(lab.docker_url, c.name)
    assert [e.text for e in src.events(tail=-1, follow=False, stop=threading.Event())] == ["tty-one", "tty-two"]
