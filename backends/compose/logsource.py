"""`compose/PROJECT[/SERVICE]`: a project's logs as the Compose CLI merges them.

`docker-compose logs` prefixes every line with its container (`web_1  | ...`), so the
whole project reads as one stream and one service's lines are still told apart. The
CLI runs with the project's own files and name; when following and it ends (every
container stopped, the daemon restarted), the source says so and starts it again.
"""

from __future__ import annotations

import select
import subprocess
import threading
from typing import Iterator, Sequence

from servedeck.backends.compose.cli import ComposeProject, compose_env, project_argv
from servedeck.backends.logs.files import LineSplitter
from servedeck.backends.logs.source import LogEvent, LogSource

_CHUNK = 65536
_RETRY_S = 1.0


class ComposeLogSource(LogSource):
    def __init__(self, cli: Sequence[str], project: ComposeProject, service: str = "", *, docker_url: str):
        self.cli = tuple(cli)
        self.project = project
        self.service = service
        self.docker_url = docker_url
        self.name = f"compose/{project.label}" + (f"/{service}" if service else "")

    def argv(self, tail: int, follow: bool) -> list[str]:
        args = ["logs", "--no-color", "--tail", str(tail) if tail >= 0 else "all"]
        if follow:
            args.append("-f")
        return project_argv(self.cli, self.project, args + ([self.service] if self.service else []))

    def events(self, *, tail: int, follow: bool, stop: threading.Event) -> Iterator[LogEvent]:
        first = True
        while not stop.is_set():
            # After a restart of the CLI only new lines are wanted: tail 0.
            rc = yield from self._run(self.argv(tail if first else 0, follow), stop)
            first = False
            if not follow or stop.is_set():
                if rc not in (0, None):
                    yield LogEvent("status", f"{self.name}: compose logs exited with status {rc}")
                return
            yield LogEvent("status", f"{self.name}: compose logs ended (status {rc}); following again")
            stop.wait(_RETRY_S)

    def _run(self, argv: list[str], stop: threading.Event):
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=compose_env(self.docker_url))
        except OSError as exc:
            yield LogEvent("status", f"cannot run {argv[0]}: {exc.strerror or exc}")
            return None
        assert proc.stdout is not None
        splitter = LineSplitter()
        try:
            while not stop.is_set():
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if not ready:
                    if proc.poll() is not None and not select.select([proc.stdout], [], [], 0)[0]:
                        break
                    continue
                data = proc.stdout.read1(_CHUNK)  # type: ignore[attr-defined]
                if not data:
                    break
                for line in splitter.feed(data):
                    if not _is_attach_notice(line):
                        yield LogEvent("line", line)
            for line in splitter.flush():
                yield LogEvent("line", line)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        return None if stop.is_set() else proc.returncode


def _is_attach_notice(line: str) -> bool:
    """v1 starts with `Attaching to a_1, b_1`: not a line of any container."""
    return line.startswith("Attaching to ")
