"""`container/NAME`: a container's log stream (stdout and stderr) with Docker's timestamps.

Following survives what happens to a long-running container: it exits (the source says
so and waits for it to start again), is removed and recreated under the same name (it
follows the new one), or the daemon restarts (it retries with backoff). It resumes from
the last timestamp it saw, so nothing is shown twice.
"""

from __future__ import annotations

import calendar
import threading
import time
from typing import Any, Callable, Iterator

from servedeck.backends.docker.errors import chain_text
from servedeck.backends.docker.logstream import LogStream
from servedeck.backends.logs.files import LineSplitter
from servedeck.backends.lazy import lazy
from servedeck.backends.logs.source import LogEvent, LogSource

docker = lazy("docker", "errors")

_minute_cache: dict[str, float] = {}


def split_timestamp(line: str) -> tuple[float | None, str]:
    """`2024-05-01T12:00:03.123456789Z text` -> (epoch seconds, text). Fast: many lines."""
    space = line.find(" ", 0, 40)
    if space < 20 or line[4:5] != "-" or line[10:11] != "T" or line[space - 1] != "Z":
        return None, line
    minute = line[:16]
    base = _minute_cache.get(minute)
    if base is None:
        try:
            base = float(calendar.timegm(time.strptime(minute, "%Y-%m-%dT%H:%M")))
        except ValueError:
            return None, line
        if len(_minute_cache) > 4096:
            _minute_cache.clear()
        _minute_cache[minute] = base
    try:
        return base + float(line[17:space - 1]), line[space + 1:]
    except ValueError:
        return None, line


class DockerLogSource(LogSource):
    retry_s = 1.0
    max_retry_s = 5.0

    def __init__(self, url: str, container: str, *, label: str = "", timeout: float = 10.0,
                 connect: Callable[[float], Any] | None = None):
        self.url = url
        # ssh:// hosts: the backend's connect, over the SSH pool (sshtransport)
        self.connect = connect or (lambda t: docker.APIClient(base_url=url, timeout=t))
        self.container = container  # id or name; a recreated container is found by label
        self.label = label or container
        self.timeout = timeout
        self.name = f"container/{self.label}"

    def events(self, *, tail: int, follow: bool, stop: threading.Event) -> Iterator[LogEvent]:
        last_ts: float | None = None
        trouble = ""  # the last problem announced, so it is said once
        wait = self.retry_s
        first = True
        while not stop.is_set():
            api = None
            try:
                api = self.connect(self.timeout)
                info = self._inspect(api)
                if info is None:
                    problem = f"container {self.label} does not exist" + (
                        "; waiting for a container of that name" if follow else "")
                elif follow and not info["State"].get("Running") and not first:
                    code = info["State"].get("ExitCode")
                    problem = f"container {self.label} is not running (exit code {code}); waiting for it to start"
                else:
                    problem = ""
                if problem:
                    if problem != trouble:
                        yield LogEvent("status", problem)
                        trouble = problem
                    if not follow:
                        return
                    stop.wait(self.retry_s)
                    continue
                if info["Id"] != self.container and self.container != self.label and not first:
                    yield LogEvent("status", f"container {self.label} was recreated; following the new one")
                self.container = info["Id"]
                if trouble:
                    yield LogEvent("status", f"container {self.label}: resumed")
                    trouble = ""
                wait = self.retry_s
                tty = bool((info.get("Config") or {}).get("Tty"))
                for event in self._stream(api, info["Id"], tty, tail if first else -1, follow, last_ts, stop):
                    if event.ts is not None:
                        if last_ts is not None and event.ts <= last_ts:
                            continue
                        last_ts = event.ts
                    yield event
                first = False
                if not follow:
                    return
                stop.wait(0.1)  # the stream ended: look at the container again shortly
            except Exception as exc:  # daemon away or restarting
                problem = f"Docker Engine at {self.url} unreachable ({_short(exc)}); retrying"
                if problem != trouble:
                    yield LogEvent("status", problem)
                    trouble = problem
                if not follow:
                    return
                stop.wait(wait)
                wait = min(wait * 2, self.max_retry_s)
            finally:
                if api is not None:
                    api.close()

    def _inspect(self, api: docker.APIClient) -> dict | None:
        for ref in dict.fromkeys((self.container, self.label)):
            try:
                return api.inspect_container(ref)
            except docker.errors.NotFound:
                continue
        return None

    def _stream(self, api: docker.APIClient, cid: str, tty: bool, tail: int, follow: bool, since: float | None,
                stop: threading.Event) -> Iterator[LogEvent]:
        stream = LogStream(api, cid, tty=tty, follow=follow, tail=tail, since=since)
        done = threading.Event()

        def cancel_on_stop() -> None:  # a blocked read returns once the socket is shut
            while not done.wait(0.2):
                if stop.is_set():
                    stream.close()
                    return

        watcher = threading.Thread(target=cancel_on_stop, name="docker log cancel", daemon=True)
        watcher.start()
        splitter = LineSplitter()
        try:
            for chunk in stream:
                for line in splitter.feed(chunk):
                    ts, text = split_timestamp(line)
                    yield LogEvent("line", text, ts)
            for line in splitter.flush():
                ts, text = split_timestamp(line)
                yield LogEvent("line", text, ts)
        except Exception:
            if stop.is_set():
                return
            raise
        finally:
            done.set()
            stream.close()


def _short(exc: BaseException) -> str:
    text = chain_text(exc)
    for marker in ("Connection refused", "No such file or directory", "Connection aborted", "timed out"):
        if marker in text:
            return marker.lower()
    return text.split(" | ")[0][:120]
