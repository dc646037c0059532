"""One chat completion through the sllm head, with the cold start it caused laid out in time.

While the request waits (the head buffers it during a cold start), a watcher asks Pylet
every 0.2 s for the model's instances (label `model_id`) and notes when the new one is
first seen PENDING, ASSIGNED and RUNNING, and when its endpoint's `/health` first answers
200 - the moment the head's reconciler counts it ready. The reply is streamed, so the
first token has its own time. All times are this machine's, from "request sent".
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable


from servedeck.backends.lazy import lazy
from servedeck.backends.base import BackendError
from servedeck.backends.pylet.client import JsonHead
from servedeck.backends.pylet.rows import PyletInstanceRow, parse_instances
from servedeck.backends.sllm.rows import error_in_body

httpx = lazy("httpx")  # loaded by the first poll, in its thread, not before the first frame

STEPS = ("PENDING", "ASSIGNED", "RUNNING")
WATCH_EVERY_S = 0.2


@dataclass
class ChatOutcome:
    model: str
    ok: bool = False
    message: str = ""  # the error, or a one-line summary
    reply: str = ""
    http_status: int | None = None
    events: list[tuple[float, str]] = field(default_factory=list)  # (seconds after sent, what)
    instance: str = ""  # the Pylet instance that served (name)
    worker: str = ""
    warm: bool = False  # a ready instance existed before the request
    first_token_s: float | None = None
    total_s: float | None = None
    streamed: bool = False

    def where_time_went(self) -> list[tuple[str, float]]:
        """The cold start cut at its steps, named by who spends the time."""
        marks = [("request sent", None), ("Pylet instance PENDING", "head: reconciler and sllm-store"),
                 ("Pylet instance RUNNING", "Pylet: scheduling and start"), ("healthy", "engine: loading"),
                 ("first token", "head: routing the buffered request"), ("response complete", "engine: generating")]
        out, last = [], None
        for label, who in marks:
            t = self.at(label)
            if t is None:
                continue
            if last is not None and who:
                out.append((who, t - last))
            last = t
        return out if self.at("Pylet instance PENDING") is not None else []  # only a cold start has steps

    def at(self, label: str) -> float | None:
        return next((t for t, what in self.events if what.startswith(label)), None)

    def render(self) -> str:
        head = f"test request to {self.model}: " + ("ok" if self.ok else f"FAILED: {self.message}")
        lines = [head, ""]
        if self.warm:
            lines.append("warm: an instance of the model was already running (no cold start)")
        elif self.instance:
            lines.append(f"cold start: Pylet instance {self.instance}" + (f" on worker {self.worker}" if self.worker else ""))
        lines.append("")
        previous = 0.0
        for t, what in self.events:
            lines.append(f"  +{t:7.2f}s  (+{t - previous:5.2f}s)  {what}")
            previous = t
        spent = self.where_time_went()
        if spent:
            lines += ["", "where the time went: " + ", ".join(f"{what} {t:.2f}s" for what, t in spent)]
        if self.reply:
            lines += ["", "reply: " + " ".join(self.reply.split())[:400]]
        if not self.streamed and self.ok:
            lines += ["", "(the head answered without streaming: first token = whole reply)"]
        return "\n".join(lines)


class _Watcher(threading.Thread):
    """Notes the Pylet states of the model's newest instance until stopped."""

    def __init__(self, pylet: JsonHead, model: str, before: dict[str, str], since: float,
                 clock: Callable[[], float], note: Callable[[str], None]):
        super().__init__(daemon=True, name=f"coldstart-{model}")
        self.pylet, self.model, self.before = pylet, model, before
        self.since, self.clock, self.note = since, clock, note
        self.stop = threading.Event()
        self.seen: set[str] = set()
        self.chosen: PyletInstanceRow | None = None
        self.probe = httpx.Client(timeout=1.0)

    def _pick(self, rows: tuple[PyletInstanceRow, ...]) -> PyletInstanceRow | None:
        live = [r for r in rows if not r.terminal and r.kind in ("inference", "")]
        if self.chosen is not None:
            same = [r for r in live if r.id == self.chosen.id]
            if same:
                return same[0]
        fresh = [r for r in live if r.id not in self.before]  # Pylet lists newest first
        return (fresh or live)[0] if (fresh or live) else None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    doc = self.pylet.json("GET", "/instances", params={"label": f"model_id={self.model}"})
                    row = self._pick(parse_instances(doc, "", time.time()))
                except (BackendError, ValueError):
                    row = None
                if row is not None:
                    self.chosen = row
                    for step in STEPS[: STEPS.index(row.state) + 1] if row.state in STEPS else ():
                        if step not in self.seen:
                            self.seen.add(step)
                            self.note(f"Pylet instance {step}" + (f" on {row.worker[:8]}" if step == "ASSIGNED" and row.worker else ""))
                    if row.state == "RUNNING" and row.endpoint and "healthy" not in self.seen:
                        try:
                            if self.probe.get(f"http://{row.endpoint}/health").status_code == 200:
                                self.seen.add("healthy")
                                self.note(f"healthy ({row.endpoint}/health 200)")
                        except httpx.HTTPError:
                            pass
                if "healthy" in self.seen:
                    return
                self.stop.wait(WATCH_EVERY_S)
        finally:
            self.probe.close()


def _ready_before(pylet: JsonHead | None, model: str) -> dict[str, str]:
    if pylet is None:
        return {}
    try:
        doc = pylet.json("GET", "/instances", params={"label": f"model_id={model}"})
        return {r.id: r.state for r in parse_instances(doc, "", time.time())}
    except (BackendError, ValueError):
        return {}


def chat(head: JsonHead, pylet: JsonHead | None, model: str, text: str, *, max_tokens: int = 16,
         timeout: float = 150.0, clock: Callable[[], float] = time.monotonic) -> ChatOutcome:
    """Blocking. Sends one chat completion; never raises for the head's or Pylet's failures."""
    out = ChatOutcome(model=model)
    before = _ready_before(pylet, model)
    out.warm = "RUNNING" in before.values()
    lock = threading.Lock()
    t0 = clock()

    def note(what: str) -> None:
        with lock:
            out.events.append((round(clock() - t0, 3), what))

    note("request sent")
    watcher = None
    if pylet is not None and not out.warm:
        watcher = _Watcher(pylet, model, before, t0, clock, note)
        watcher.start()
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens, "stream": True}
    parts: list[str] = []
    try:
        with head.client.stream("POST", "/v1/chat/completions", json=body, timeout=timeout) as response:
            out.http_status = response.status_code
            if "text/event-stream" in response.headers.get("content-type", ""):
                out.streamed = True
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        continue
                    if error_in_body(chunk):
                        out.message = error_in_body(chunk)
                        break
                    delta = ((chunk.get("choices") or [{}])[0].get("delta") or {}).get("content") or ""
                    if delta and out.first_token_s is None:
                        note("first token")
                        out.first_token_s = clock() - t0
                    parts.append(delta)
            else:
                response.read()
                try:
                    doc = response.json()
                except ValueError:
                    doc = None
                out.message = error_in_body(doc) if doc is not None else ""
                if doc is not None and not out.message and response.status_code < 400:
                    note("first token (whole reply)")
                    out.first_token_s = clock() - t0
                    choice = (doc.get("choices") or [{}])[0]
                    parts.append(str((choice.get("message") or {}).get("content") or choice.get("text") or ""))
                elif not out.message:
                    out.message = " ".join(response.text.split())[:200] or response.reason_phrase
    except httpx.TimeoutException:
        out.message = f"no complete answer within {timeout:g}s"
    except httpx.TransportError as exc:
        out.message = f"sllm head not reachable at {head.url} ({type(exc).__name__})"
    finally:
        if watcher is not None:
            watcher.stop.set()
            watcher.join(timeout=2)
            if watcher.chosen is not None:
                out.instance, out.worker = watcher.chosen.name, watcher.chosen.worker[:8]
    out.total_s = clock() - t0
    if out.http_status is not None and out.http_status >= 400 and not out.message:
        out.message = f"HTTP {out.http_status}"
    if out.http_status is not None and out.http_status < 400 and out.message:
        out.message = f"error returned with HTTP {out.http_status}: {out.message}"
    out.ok = not out.message and out.first_token_s is not None
    if not out.ok and not out.message:
        out.message = "the answer had no tokens"
    note("response complete" if out.ok else "response (error)")
    out.reply = "".join(parts)
    if out.ok:
        out.message = (f"{'warm' if out.warm else 'cold start'}: first token after {out.first_token_s:.2f}s, "
                       f"complete after {out.total_s:.2f}s")
    return out
