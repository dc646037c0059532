"""A YAML document with the line and column of every key, `${ENV}` expansion, and pydantic
validation that reports FILE:LINE:COL problems without echoing values.

The layer below every config schema of servedeck (the main file, the orchestrator's
deployments, task files): each schema module imports it; it imports none of them.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml
from pydantic import ValidationError

from servedeck import bounded, secrets
from servedeck.config.errors import ConfigError, Problem

MAX_CONFIG_BYTES = 4 * bounded.MIB  # a real config is a few kB; this only stops a runaway file

ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Loc = tuple[Any, ...]


def read_config_text(path, what: str = "config") -> str:
    """A config file's text, capped in size; unreadable, oversized or non-UTF-8 files are
    one located problem."""
    source = str(path)
    try:
        data = bounded.read_bytes(path, MAX_CONFIG_BYTES, f"the {what} file")
    except bounded.InputRejected as exc:
        raise ConfigError([Problem(source, 1, 1, str(exc))]) from None
    except OSError as exc:
        raise ConfigError([Problem(source, 1, 1, f"cannot read {what}: {exc.strerror or exc}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError([Problem(source, line, col, f"not UTF-8 text (byte 0x{data[exc.start]:02x})")]) from None


def parse_document(text: str, source: str) -> tuple[dict, "NodeIndex", list[Problem]]:
    """YAML text -> (top-level mapping, key locations, problems so far); raises on bad YAML.
    Nesting depth, aliases and alias expansion are capped (servedeck.bounded), so a hostile
    file is one located problem, never a RecursionError or unbounded memory."""
    try:
        root = bounded.compose_yaml(text, max_bytes=MAX_CONFIG_BYTES, what="the config")
    except bounded.InputRejected as exc:
        raise ConfigError([Problem(source, 1, 1, str(exc))]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ConfigError([Problem(source, line, col, f"invalid YAML: {exc.problem or exc}")])
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: no mark, a position
        head = text[: exc.position]
        line, col = head.count("\n") + 1, exc.position - (head.rfind("\n") + 1) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError([Problem(source, line, col, f"invalid YAML: {exc.reason} {char} is not allowed")])
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError([Problem(source, 1, 1, f"invalid YAML: {first}")])
    index = NodeIndex(source)
    data: Any = {}
    if root is not None:
        index.walk(root, ())
        data = yaml.SafeLoader("").construct_document(root)
    problems = list(index.problems)
    if not isinstance(data, dict):
        raise ConfigError(problems + [Problem(source, 1, 1, "the config must be a mapping of sections")])
    return data, index, problems


def expand_env(value: Any, loc: Loc, index: "NodeIndex", problems: list[Problem]) -> Any:
    if isinstance(value, dict):
        return {k: expand_env(v, loc + (k,), index, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, loc + (i,), index, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        var = match.group(1)
        if var not in os.environ:
            problems.append(index.problem(loc, f"environment variable {var} is not set (used by {_dotted(loc)})"))
            return ""
        env_value = os.environ[var]
        if secrets.looks_secret(var):
            secrets.register(env_value)
        return env_value

    return ENV_REF.sub(replace, value)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if not isinstance(part, int) and not str(part).isprintable():
            part = repr(str(part))  # a key with a newline or a control character stays on one line
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


class NodeIndex:
    """Line and column of every key (and list item) in the YAML, by its path."""

    def __init__(self, source: str):
        self.source = source
        self.marks: dict[Loc, tuple[int, int]] = {}
        self.problems: list[Problem] = []

    def walk(self, node: yaml.Node, loc: Loc) -> None:
        self.marks.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":int"):
                    key = int(key)
                mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key in seen:
                    self.problems.append(Problem(self.source, *mark, f"duplicate key {key!r}"))
                seen.add(key)
                self.marks[loc + (key,)] = mark
                self.walk(value_node, loc + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, loc + (i,))

    def locate(self, loc: Loc) -> tuple[int, int]:
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.marks:
                return self.marks[loc[:end]]
        return (1, 1)

    def problem(self, loc: Loc, message: str) -> Problem:
        return Problem(self.source, *self.locate(loc), message)

    def problems_from(self, exc: ValidationError, prefix: Loc) -> list[Problem]:
        out = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = prefix + tuple(err["loc"])
            out.append(self.problem(loc, _phrase(err, loc)))
        return out


def _phrase(err: dict, loc: Loc) -> str:
    """A pydantic error as an operator-facing sentence that never includes the value."""
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r} in {_dotted(loc[:-1])}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r} in {_dotted(loc[:-1])}"
    return f"{_dotted(_real_loc(loc))}: {err['msg']}"


def _real_loc(loc: Loc) -> Loc:
    """Drop pydantic's union-member tags (e.g. 'float', 'list[str]') from a location."""
    return tuple(p for p in loc if isinstance(p, int) or not (p.endswith("]") or p in _TYPE_TAGS))


_TYPE_TAGS = {"str", "int", "float", "bool", "none", "function-after", "function-before", "lax-or-strict"}


def load_model(text: str, source: str, model: type, *, keys: tuple[str, ...] | None = None):
    """Validate a YAML document (or only its top-level `keys`) against a pydantic `model`,
    with `${ENV}` expansion and FILE:LINE:COL problems, exactly like the main config.

    Returns (instance, marks). Used by sections that live in their own schema (the
    orchestrator's deployments), standalone or inside servedeck's config file.
    """
    data, index, problems = parse_document(text, source)
    if keys is not None:
        data = {k: v for k, v in data.items() if k in keys}
    data = expand_env(data, (), index, problems)
    instance = None
    try:
        instance = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(index.problems_from(exc, ()))
    if problems or instance is None:
        raise ConfigError(sorted(problems, key=lambda p: (p.line, p.col)))
    return instance, index.marks
