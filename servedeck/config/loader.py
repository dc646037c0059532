"""Loads the config file: YAML -> `${ENV}` expansion -> typed models, with locations.

PyYAML's node tree keeps the line and column of every key, so each validation error
is reported at the key it concerns. Values that came from the environment are never
echoed: messages name keys and variables, not values.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Iterable

from pydantic import ValidationError

from servedeck import secrets
from servedeck.backends.base import Backend, BackendSettings
from servedeck.backends.registry import UnknownBackendKind, load_kind
from servedeck.config.errors import ConfigError, Problem
from servedeck.config.document import Loc, NodeIndex, expand_env, parse_document, read_config_text
from servedeck.config.model import ServedeckConfig
from servedeck.config.paths import DEFAULT_PATH, resolve_path  # noqa: F401 - re-exported

EMBEDDED = "<embedded default>"


@dataclass(frozen=True)
class Target:
    """One configured backend target, validated by its kind's settings model."""

    kind: str
    backend_cls: type[Backend]
    settings: BackendSettings
    loc: Loc = ()  # where it stands in the file


@dataclass(frozen=True)
class LoadedConfig:
    source: str  # a path, or EMBEDDED
    config: ServedeckConfig
    targets: tuple[Target, ...]
    marks: dict = field(default_factory=dict, compare=False, repr=False)  # loc -> (line, col)

    def problem(self, loc: Loc, message: str) -> Problem:
        """A problem found after loading (e.g. by the TUI), located like the loader's."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.marks:
                return Problem(self.source, *self.marks[loc[:end]], message)
        return Problem(self.source, 1, 1, message)

    def build_backends(self, context=None) -> list[Backend]:
        return [t.backend_cls(t.settings, context) for t in self.targets if t.settings.enabled]


def load_config(explicit: str | None = None) -> LoadedConfig:
    path = resolve_path(explicit)
    if path is None:
        return load_text(embedded_default_yaml(), EMBEDDED)
    return load_text(read_config_text(path), str(path))


def embedded_default_yaml() -> str:
    """Used when there is no config: the local Docker socket, a local Prometheus, local SLURM."""
    lines = [
        "backends:",
        "  docker:",
        "    - name: local-docker",
        "      url: unix:///var/run/docker.sock",
        "  prometheus:",
        "    - name: local-prometheus",
        "      url: http://127.0.0.1:9090",
    ]
    if shutil.which("squeue"):
        lines += ["  slurm:", "    - name: local-slurm"]
    return "\n".join(lines) + "\n"


def load_text(text: str, source: str) -> LoadedConfig:
    data, index, problems = parse_document(text, source)
    data = expand_env(data, (), index, problems)
    config = None
    try:
        config = ServedeckConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(index.problems_from(exc, ()))
    if "orchestrator" in data or "deployments" in data:
        _validate_orchestration(data, index, problems)
    if "tuner" in data:
        _validate_tuner(data, index, problems)
    raw_backends = data.get("backends")
    targets = list(_validate_targets(raw_backends, index, problems)) if isinstance(raw_backends, dict) else []
    if config is not None:
        _check_references(config, targets, index, problems)
    if problems or config is None:
        raise ConfigError(sorted(problems, key=lambda p: (p.line, p.col)))
    return LoadedConfig(source, config, tuple(targets), index.marks)


def _validate_orchestration(data: dict, index: NodeIndex, problems: list[Problem]) -> None:
    """`orchestrator:` and `deployments:` in servedeck's file follow the orchestrator's schema."""
    from servedeck.orchestrator.config import SGOrchConfig

    section = {k: data[k] for k in ("orchestrator", "deployments") if k in data}
    try:
        SGOrchConfig.model_validate(section)
    except ValidationError as exc:
        problems.extend(index.problems_from(exc, ()))


def _validate_tuner(data: dict, index: NodeIndex, problems: list[Problem]) -> None:
    """`tuner:` in servedeck's file follows the autotuner's settings schema."""
    from servedeck.tuner.settings import TunerSettings

    try:
        TunerSettings.model_validate(data["tuner"] or {})
    except ValidationError as exc:
        problems.extend(index.problems_from(exc, ("tuner",)))


def _validate_targets(backends: dict, index: NodeIndex, problems: list[Problem]) -> Iterable[Target]:
    names: dict[str, Loc] = {}
    for kind, items in backends.items():
        if not isinstance(items, list):
            continue  # the top-level model reports the wrong type
        base: Loc = ("backends", kind)
        try:
            cls = load_kind(kind)
        except UnknownBackendKind as exc:
            problems.append(index.problem(base, str(exc)))
            continue
        for i, item in enumerate(items):
            loc = base + (i,)
            if not isinstance(item, dict):
                continue  # reported by the top-level model
            try:
                settings = cls.settings_model.model_validate(item)
            except ValidationError as exc:
                problems.extend(index.problems_from(exc, loc))
                continue
            if settings.name in names:
                problems.append(index.problem(loc + ("name",), f"duplicate backend name {settings.name!r} (names are unique across kinds)"))
                continue
            names[settings.name] = loc
            secrets.register_model(settings)
            yield Target(kind, cls, settings, loc)


def _check_references(config, targets, index, problems) -> None:
    """A target's `ssh:` must name a host in the ssh section."""
    for target in targets:
        ref = getattr(target.settings, "ssh", None)
        if isinstance(ref, str) and ref not in config.ssh:
            known = ", ".join(sorted(config.ssh)) or "none"
            problems.append(index.problem(target.loc + ("ssh",), f"unknown ssh host {ref!r} (defined: {known})"))
    for name, host in config.ssh.items():
        if host.proxy_jump and host.proxy_jump not in config.ssh:
            problems.append(index.problem(("ssh", name, "proxy_jump"), f"unknown ssh host {host.proxy_jump!r}"))
