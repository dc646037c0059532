"""Runs one `docker build` of a plan on a Docker host, streaming progress into its record.

Where the Dockerfile allows it the build goes through the Engine API (docker SDK,
`APIClient.build(decode=True)`, then `api.tag` for every further tag); a Dockerfile that
needs BuildKit (`RUN --mount`, a `# syntax=` line) or a build with secrets, named build
contexts or `--cache-to` goes through the docker CLI with `DOCKER_BUILDKIT=1 --progress=plain`.
The record says which one (`via`). Cancel (a file any process may write) is watched by a
thread that closes the build's stream (the engine then stops the build) or interrupts
the CLI.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from servedeck.backends.dynamo.buildsh import DockerBuild, ParsedBuild, mask_tokens
from servedeck.backends.dynamo.records import BuildRecord, BuildStore
from servedeck.secrets import redact
from servedeck.text import strip_control

ENGINE_API, BUILDKIT_CLI = "engine-api", "buildkit-cli"
LAST_LINES = 8
SAVE_EVERY_S = 0.25

_RUN_MOUNT = re.compile(r"^\s*RUN\s+(--\S+\s+)*--mount[= ]", re.M | re.I)
_SYNTAX = re.compile(r"^\s*#\s*syntax\s*=", re.I)
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
_BK_VERTEX = re.compile(r"^#(\d+) \[([^\]]*?)(?:\s+(\d+)/(\d+))?\] (.*)")
_BK_CACHED = re.compile(r"^#(\d+) CACHED")
_BK_ERROR = re.compile(r"^#(\d+) ERROR: (.*)")


def buildkit_reasons(parsed: ParsedBuild, dockerfile_text: str) -> list[str]:
    """Why this build cannot go through the Engine API's classic builder (empty: it can)."""
    reasons = []
    if _RUN_MOUNT.search(dockerfile_text):
        reasons.append("RUN --mount")
    if dockerfile_text.lstrip().splitlines() and _SYNTAX.match(dockerfile_text.lstrip().splitlines()[0]):
        reasons.append("# syntax= frontend")
    if parsed.secrets:
        reasons.append("--secret")
    if parsed.build_contexts:
        reasons.append("--build-context")
    if parsed.cache_to:
        reasons.append("--cache-to")
    return reasons


def default_cli() -> str:
    """Debian's docker.io client has BuildKit built in; a newer client needs buildx."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


class Progress:
    """Turns build output lines into step n of m, cache hits and the failing step."""

    def __init__(self, record: BuildRecord):
        self.record = record
        self.tail: deque[str] = deque(maxlen=LAST_LINES)
        self._stage_steps: dict[str, int] = {}
        self._vertices: set[str] = set()
        self._cached: set[str] = set()
        self._names: dict[str, str] = {}

    def line(self, text: str) -> None:
        r = self.record
        self.tail.append(text)
        r.log_lines += 1
        m = _STEP.match(text)
        if m:
            r.step, r.steps, r.current = int(m.group(1)), int(m.group(2)), m.group(3)[:200]
            return
        if text.strip() == "---> Using cache":
            r.cache_hits += 1
            return
        m = _BK_VERTEX.match(text)
        if m and m.group(3):
            vid, stage = m.group(1), m.group(2)
            self._names[vid] = f"[{stage} {m.group(3)}/{m.group(4)}] {m.group(5)}"[:200]
            self._stage_steps[stage] = max(self._stage_steps.get(stage, 0), int(m.group(4)))
            if vid not in self._vertices:
                self._vertices.add(vid)
                r.step = len(self._vertices)
            r.steps = max(sum(self._stage_steps.values()), r.step)
            r.current = self._names[vid]
            return
        m = _BK_CACHED.match(text)
        if m and m.group(1) not in self._cached:
            self._cached.add(m.group(1))
            r.cache_hits = len(self._cached)
            return
        m = _BK_ERROR.match(text)
        if m:
            r.error_step = self._names.get(m.group(1), r.current)

    def failed(self, message: str) -> None:
        r = self.record
        r.error = message.strip()[:500]
        r.error_step = r.error_step or r.current
        r.last_lines = list(self.tail)


@dataclass
class BuildOutcome:
    ok: bool
    status: int
    image_id: str = ""
    message: str = ""


class Builder:
    """Builds one DockerBuild on `url`, keeping `record` (and its log) up to date."""

    def __init__(self, url: str, store: BuildStore, *, network: str | None = None, cli: str | None = None,
                 timeout: float = 60.0):
        self.url = url
        self.store = store
        self.network = network
        self.cli = cli or default_cli()
        self.timeout = timeout

    def run(self, build: DockerBuild, record: BuildRecord, emit: Callable[[str], None]) -> BuildOutcome:
        parsed = build.parsed()
        dockerfile = Path(parsed.dockerfile)
        try:
            text = dockerfile.read_text()
        except OSError as exc:
            text = ""
            missing = f"cannot read Dockerfile {dockerfile}: {exc.strerror or exc}"
        else:
            missing = ""
        reasons = buildkit_reasons(parsed, text)
        record.via = BUILDKIT_CLI if reasons else ENGINE_API
        record.state, record.started_at = "running", time.time()
        self.store.claim(record)
        self.store.save(record)
        progress = Progress(record)
        log = open(self.store.log_path(record.id), "a", encoding="utf-8")
        last_save = [0.0]

        def line(text: str) -> None:
            clean = redact(mask_tokens(strip_control(text.rstrip("\r"))))
            log.write(clean + "\n")
            progress.line(clean)
            emit(clean)
            now = time.monotonic()
            if now - last_save[0] >= SAVE_EVERY_S:
                last_save[0] = now
                log.flush()
                self.store.save(record)

        why = f" (needs BuildKit: {', '.join(reasons)})" if reasons else ""
        line(f"servedeck: building {record.tag or '(untagged)'} via {record.via}{why}")
        try:
            if missing:
                outcome = BuildOutcome(False, 1, message=missing)
            elif parsed.extra:
                outcome = BuildOutcome(False, 1, message=f"docker build: more than one context: {' '.join(parsed.extra)}")
            elif reasons:
                outcome = self._cli(build, parsed, record, line)
            else:
                outcome = self._engine(parsed, record, line)
        except Exception as exc:  # a daemon that went away mid-build, a broken pipe
            outcome = BuildOutcome(False, 1, message=f"{type(exc).__name__}: {exc}")
        finally:
            log.flush()
        if self.store.cancel_requested(record.id) and not outcome.ok:
            record.state, record.error = "cancelled", "cancelled by the operator"
            record.last_lines = list(progress.tail)
        elif outcome.ok:
            record.state, record.image_id = "done", outcome.image_id
            record.last_lines = list(progress.tail)
        else:
            record.state = "failed"
            progress.failed(outcome.message)
            line(f"servedeck: build failed: {outcome.message}")
        record.finished_at = time.time()
        log.close()
        self.store.finish(record)
        return outcome

    # -- Engine API ---------------------------------------------------------------------

    def _engine(self, p: ParsedBuild, record: BuildRecord, line) -> BuildOutcome:
        import docker
        import docker.errors

        api = docker.APIClient(base_url=self.url, timeout=self.timeout)
        captured: dict[str, Any] = {}
        original = api._stream_helper

        def helper(response, decode=False):  # keep the response so cancel can close it
            captured["response"] = response
            return original(response, decode=decode)

        api._stream_helper = helper
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch_cancel, args=(record.id, stop, lambda: self._close_stream(api, captured)),
                                   daemon=True, name=f"cancel watch {record.id}")
        watcher.start()
        context = Path(p.context)
        try:
            dockerfile = os.path.relpath(p.dockerfile, context) if p.dockerfile else None
            kwargs: dict[str, Any] = dict(path=str(context), dockerfile=dockerfile, tag=p.tags[0] if p.tags else None,
                                          buildargs=dict(p.build_args), nocache=p.no_cache, rm=True, forcerm=True,
                                          pull=False, decode=True, cache_from=list(p.cache_from) or None)
            if p.target:
                kwargs["target"] = p.target
            if p.platform:
                kwargs["platform"] = p.platform
            if self.network:
                kwargs["network_mode"] = self.network
            image_id, partial = "", ""
            try:
                for event in api.build(**kwargs):
                    if "stream" in event:
                        partial += str(event["stream"])
                        *done, partial = partial.split("\n")
                        for text in done:
                            line(text)
                    if "aux" in event and isinstance(event["aux"], dict) and event["aux"].get("ID"):
                        image_id = event["aux"]["ID"]
                    if "error" in event:
                        if partial:
                            line(partial)
                        return BuildOutcome(False, 1, message=str(event.get("error", "")).strip())
                if partial:
                    line(partial)
            except docker.errors.APIError as exc:
                return BuildOutcome(False, 1, message=str(exc.explanation or exc))
            except Exception as exc:
                if self.store.cancel_requested(record.id):
                    return BuildOutcome(False, 130, message="cancelled")
                raise
            if self.store.cancel_requested(record.id):
                return BuildOutcome(False, 130, message="cancelled")
            if not image_id:
                return BuildOutcome(False, 1, message="the engine finished without an image id")
            for tag in p.tags[1:]:
                repo, _, name = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
                api.tag(image_id, repo, name or "latest")
            for tag in p.tags[1:]:
                line(f"Successfully tagged {tag}")
            return BuildOutcome(True, 0, image_id=image_id)
        finally:
            stop.set()
            api.close()

    @staticmethod
    def _close_stream(api, captured: dict) -> None:
        response = captured.get("response")
        if response is None:
            return
        try:
            sock = api._get_raw_response_socket(response)
            if hasattr(sock, "_sock"):
                sock = sock._sock
            sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        try:
            response.close()
        except Exception:
            pass

    def _watch_cancel(self, build_id: str, stop: threading.Event, cancel: Callable[[], None]) -> None:
        while not stop.wait(0.2):
            if self.store.cancel_requested(build_id):
                cancel()
                return

    # -- BuildKit CLI -------------------------------------------------------------------

    def _cli(self, build: DockerBuild, p: ParsedBuild, record: BuildRecord, line) -> BuildOutcome:
        argv = [self.cli, "-H", self.url, "build", "--progress=plain"]
        if self.network:
            argv += ["--network", self.network]
        argv += list(build.words)
        env = dict(os.environ, DOCKER_BUILDKIT="1")
        env.pop("DOCKER_HOST", None)
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
        except OSError as exc:
            return BuildOutcome(False, 127, message=f"cannot run {self.cli}: {exc.strerror or exc}")
        stop = threading.Event()

        def interrupt() -> None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
                if proc.wait(timeout=10) is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        threading.Thread(target=self._watch_cancel, args=(record.id, stop, interrupt), daemon=True).start()
        last_error = ""
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                text = raw.decode("utf-8", errors="replace").rstrip("\n")
                line(text)
                if text.startswith(("error:", "ERROR:", "failed to", "unknown flag")) or " ERROR: " in text:
                    last_error = text
            status = proc.wait()
        finally:
            stop.set()
        if status != 0:
            if "buildx component is missing" in last_error or "buildx" in last_error and "install" in last_error:
                last_error += f" ({self.cli} needs the buildx plugin; Debian's /usr/bin/docker has BuildKit built in)"
            if "frontend" in last_error or "docker/dockerfile" in last_error:
                last_error += " (a `# syntax=` line makes BuildKit pull its frontend image: this needs a registry)"
            return BuildOutcome(False, status, message=last_error or f"docker build exited with status {status}")
        image_id = self._image_id(p.tags[0]) if p.tags else ""
        return BuildOutcome(True, 0, image_id=image_id)

    def _image_id(self, tag: str) -> str:
        import docker

        api = docker.APIClient(base_url=self.url, timeout=self.timeout)
        try:
            return str(api.inspect_image(tag).get("Id", ""))
        except Exception:
            return ""
        finally:
            api.close()
