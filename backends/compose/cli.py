"""The installed Compose CLI: `docker compose` (v2) where it works, else `docker-compose` (v1).

Every command runs with the project's own files (`-f`, from its labels), its name (`-p`)
and its working directory, against the target's Docker host (`DOCKER_HOST`), so what the
cockpit does is what the operator would type. No shell is involved.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Sequence

from servedeck.backends.base import BackendError

HINT = "install Docker Compose: apt-get install docker-compose (v1) or the docker-compose-plugin (v2)"
_PROBE_TIMEOUT_S = 10


class ComposeMissing(BackendError):
    """Neither `docker compose` nor `docker-compose` runs here."""

    def __init__(self) -> None:
        super().__init__("no Docker Compose CLI found (neither `docker compose` nor `docker-compose` runs)",
                         hint=HINT, reachable=True)


@dataclass(frozen=True)
class ComposeProject:
    """What addresses one project: its name, files and directory (from its labels)."""

    name: str  # "": let Compose name it (from the directory, or COMPOSE_PROJECT_NAME)
    files: tuple[str, ...] = ()
    working_dir: str = ""

    @property
    def label(self) -> str:
        return self.name or ",".join(self.files) or self.working_dir

    def paths(self) -> tuple[str, ...]:
        return tuple(os.path.join(self.working_dir, f) for f in self.files)


@dataclass(frozen=True)
class Outcome:
    rc: int
    output: str  # stdout and stderr, interleaved as the CLI wrote them

    @property
    def last_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


_found: dict[tuple[str, ...], tuple[str, ...] | None] = {}
_found_lock = threading.Lock()


def compose_command(override: Sequence[str] = ()) -> tuple[str, ...]:
    """The argv prefix of the installed CLI (probed once per process), or ComposeMissing."""
    key = tuple(override)
    with _found_lock:
        if key not in _found:
            _found[key] = _probe(key)
        found = _found[key]
    if found is None:
        raise ComposeMissing()
    return found


def forget() -> None:
    """Probe again next time (after installing a CLI, in tests)."""
    with _found_lock:
        _found.clear()


def _probe(override: tuple[str, ...]) -> tuple[str, ...] | None:
    candidates = [override] if override else [("docker", "compose"), ("docker-compose",)]
    for argv in candidates:
        if shutil.which(argv[0]) is None:
            continue
        try:
            done = subprocess.run([*argv, "version"], capture_output=True, timeout=_PROBE_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return argv
    return None


def project_argv(cli: Sequence[str], project: ComposeProject, args: Sequence[str]) -> list[str]:
    """`docker-compose -p NAME -f FILE... --project-directory DIR ARGS`."""
    argv = [*cli, *(["-p", project.name] if project.name else [])]
    for path in project.paths():
        argv += ["-f", path]
    if project.working_dir:
        argv += ["--project-directory", project.working_dir]
    return argv + list(args)


def compose_env(docker_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DOCKER_HOST"] = docker_url
    env.setdefault("COMPOSE_INTERACTIVE_NO_CLI", "1")
    return env


def check_files(project: ComposeProject) -> None:
    """A project started elsewhere names files this machine does not have: say so."""
    missing = [f for f in project.paths() if not os.path.exists(f)]
    if missing:
        raise BackendError(f"compose file {missing[0]} of project {project.label} is not on this machine",
                           hint="run servedeck where the project's files are, or pass -f FILE", reachable=True)


def run(cli: Sequence[str], project: ComposeProject, args: Sequence[str], *, docker_url: str,
        timeout: float) -> Outcome:
    """Blocking: one Compose command to completion."""
    argv = project_argv(cli, project, args)
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL, env=compose_env(docker_url),
                              cwd=project.working_dir if os.path.isdir(project.working_dir) else None)
    except FileNotFoundError:
        forget()
        raise ComposeMissing() from None
    except subprocess.TimeoutExpired:
        raise BackendError(f"{' '.join(argv[:len(cli)])} {' '.join(args)} did not finish within {timeout:g}s",
                           hint="raise backends.compose[].action_timeout", reachable=True) from None
    return Outcome(done.returncode, done.stdout)
