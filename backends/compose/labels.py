"""Reading Compose projects out of container labels (`com.docker.compose.*`).

Both Compose generations label every container with its project, service, config files
and working directory. Only v2 writes `depends_on` into a label; for v1 projects the
order comes from the project's own compose file when it is readable on this machine.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

import yaml

PREFIX = "com.docker.compose."
PROJECT = PREFIX + "project"
SERVICE = PREFIX + "service"
CONFIG_FILES = PREFIX + "project.config_files"
WORKING_DIR = PREFIX + "project.working_dir"
DEPENDS_ON = PREFIX + "depends_on"  # v2 only: "db:service_healthy:false,cache:service_started:false"
ONEOFF = PREFIX + "oneoff"

_EXITED = re.compile(r"^Exited \((-?\d+)\)")
CONDITION_WORDS = {"service_healthy": "healthy", "service_started": "", "service_completed_successfully": "completed"}


@dataclass(frozen=True)
class Labels:
    project: str
    service: str
    config_files: tuple[str, ...]
    working_dir: str
    depends_on: Mapping[str, str] | None  # service -> condition; None when the labels do not say
    oneoff: bool


def read_labels(labels: Mapping[str, str] | None) -> Labels | None:
    """The compose facts of one container, or None when Compose did not make it."""
    labels = labels or {}
    project = labels.get(PROJECT)
    if not project:
        return None
    files = tuple(f for f in (labels.get(CONFIG_FILES) or "").split(",") if f)
    return Labels(
        project=project,
        service=labels.get(SERVICE, ""),
        config_files=files,
        working_dir=labels.get(WORKING_DIR, ""),
        depends_on=parse_depends_label(labels[DEPENDS_ON]) if DEPENDS_ON in labels else None,
        oneoff=labels.get(ONEOFF, "False").lower() == "true",
    )


def parse_depends_label(text: str) -> dict[str, str]:
    """v2's `svc:condition:restart,...` label."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, rest = part.partition(":")
        out[name] = rest.partition(":")[0] or "service_started"
    return out


def exit_code(state: str, status: str) -> int | None:
    """`Exited (1) 3 minutes ago` -> 1; None for a container that has not exited."""
    if state != "exited":
        return None
    match = _EXITED.match(status)
    return int(match.group(1)) if match else None


class DependsFromFiles:
    """`depends_on` of every service, read from a project's compose files (cached by mtime).

    Used for v1 projects, whose containers carry no depends_on label. Files that are not
    readable here (a project on another machine) give no order rather than an error.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], tuple[tuple[float, ...], dict[str, dict[str, str]]]] = {}

    def get(self, files: tuple[str, ...], working_dir: str) -> dict[str, dict[str, str]]:
        paths = tuple(f if os.path.isabs(f) else os.path.join(working_dir, f) for f in files)
        try:
            stamps = tuple(os.stat(p).st_mtime for p in paths)
        except OSError:
            return {}
        cached = self._cache.get(paths)
        if cached is not None and cached[0] == stamps:
            return cached[1]
        merged: dict[str, dict[str, str]] = {}
        for path in paths:
            for service, deps in _depends_in(path).items():
                merged.setdefault(service, {}).update(deps)
        self._cache[paths] = (stamps, merged)
        return merged


def _depends_in(path: str) -> dict[str, dict[str, str]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, spec in services.items():
        deps = spec.get("depends_on") if isinstance(spec, dict) else None
        if isinstance(deps, list):
            out[str(name)] = {str(d): "service_started" for d in deps}
        elif isinstance(deps, dict):
            out[str(name)] = {str(d): str((c or {}).get("condition", "service_started")) if isinstance(c, dict)
                              else "service_started" for d, c in deps.items()}
    return out


def dependency_order(depends: Mapping[str, Iterable[str]], services: Iterable[str]) -> dict[str, int]:
    """Each service's place when dependencies come first (ties by name; cycles tolerated)."""
    names = sorted(set(services) | set(depends))
    placed: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in placed or name in visiting:
            return
        visiting.add(name)
        for dep in sorted(depends.get(name, ())):
            visit(dep)
        visiting.discard(name)
        placed[name] = len(placed)

    for name in names:
        visit(name)
    return placed


def describe_depends(deps: Mapping[str, str]) -> str:
    """`{"db": "service_healthy", "cache": "service_started"}` -> `cache, db (healthy)`."""
    parts = []
    for name in sorted(deps):
        word = CONDITION_WORDS.get(deps[name], deps[name])
        parts.append(f"{name} ({word})" if word else name)
    return ", ".join(parts)


def worst_health(values: Iterable[str]) -> str:
    """A project's health: unhealthy beats starting beats healthy; "" when none has a check."""
    seen = set(values)
    for word in ("unhealthy", "starting", "healthy"):
        if word in seen:
            return word
    return ""


def summary_state(states: list[str]) -> str:
    """`running 2/3`, `exited`, ...: how many of a project's containers run."""
    running = sum(1 for s in states if s == "running")
    if running == len(states):
        return f"running {running}/{len(states)}"
    if running == 0:
        common = set(states)
        return (common.pop() if len(common) == 1 else "stopped") + f" 0/{len(states)}"
    return f"degraded {running}/{len(states)}"
