"""One thread per Docker host listening to container events, so the pane is live without
a polling storm: a start, stop, die, health change... asks for a poll right away.

The stream reconnects with backoff when the daemon goes away; a reconnect also asks for
a poll (things may have changed while it was away).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from servedeck.backends.lazy import lazy

docker = lazy("docker")

log = logging.getLogger(__name__)

INTERESTING = frozenset({
    "create", "start", "restart", "stop", "die", "kill", "destroy", "pause", "unpause",
    "rename", "health_status", "oom", "update",
})


def is_interesting(event: dict) -> bool:
    action = str(event.get("Action") or event.get("status") or "")
    return action.split(":", 1)[0].strip() in INTERESTING


class EventWatcher:
    def __init__(self, url: str, on_change: Callable[[], None], *, name: str = "docker events",
                 connect: Callable[[], Any] | None = None):
        self.url = url
        self.connect = connect or (lambda: docker.APIClient(base_url=url, timeout=None))
        self.on_change = on_change
        self.events_seen = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stream = None
        self._client: docker.APIClient | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                # No read timeout: the stream is idle for as long as nothing happens; a
                # daemon that goes away closes the socket, which ends the iteration.
                client = self.connect()
                with self._lock:
                    self._client = client
                    # Filtered by the Engine: a shared host's exec/attach traffic (health
                    # checks, `docker exec`) never wakes this thread.
                    self._stream = client.events(decode=True, filters={"type": "container",
                                                                       "event": sorted(INTERESTING)})
                    stream = self._stream
                if self._stop.is_set():
                    break
                self._notify()
                backoff = 0.5
                for event in stream:
                    self.events_seen += 1
                    if is_interesting(event):
                        self._notify()
            except Exception as exc:  # daemon away: retry with backoff
                log.debug("docker events at %s: %s", self.url, exc)
            finally:
                self._close_stream()
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, 10.0)

    def _notify(self) -> None:
        if not self._stop.is_set():  # nobody listens once closed (the app is going away)
            self.on_change()

    def _close_stream(self) -> None:
        with self._lock:
            stream, client, self._stream, self._client = self._stream, self._client, None, None
        for thing in (stream, client):
            if thing is not None:
                try:
                    thing.close()
                except Exception:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._close_stream()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)
