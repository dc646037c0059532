"""What every verb shares: loading the config and fleet, the read-only rule, asking for
confirmation, and plain tables. (No `register`: discovery skips this module.)"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

# The exit codes of every verb (README, "Exit codes"). `status` uses the last two for
# the worst backend state: down beats degraded.
EXIT_OK = 0
EXIT_FAILED = 1  # the action failed, or the input was invalid
EXIT_CONFIG = 2  # the config could not be loaded
EXIT_REFUSED = 3  # refused: read-only mode, or a destructive action not confirmed
EXIT_UNREACHABLE = 4  # some target could not be reached (down)
EXIT_DEGRADED = 5  # every target answered, but some reported a problem (degraded)


def add_common(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: `servedeck --readonly VERB` (the main flag) is not overwritten by a default.
    parser.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS,
                        help="refuse anything that changes something")


def load_config_or_report(args):
    """The loaded config, or None after printing its problems (one located line each)."""
    from servedeck.config import ConfigError, load_config

    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def load_fleet(args) -> tuple[Any, Any] | None:
    """(loaded config, Fleet), or None after printing the config's problems."""
    from servedeck.backends.fleet import Fleet

    loaded = load_config_or_report(args)
    return None if loaded is None else (loaded, Fleet.from_config(loaded))


def is_readonly(args, loaded) -> bool:
    return bool(getattr(args, "readonly", False) or loaded.config.readonly)


def confirmed(question: str, yes: bool) -> bool:
    """--yes, or an interactive 'y'; without a terminal and without --yes: refused."""
    if yes:
        return True
    if not sys.stdin.isatty():
        print(f"{question} -- refused: not a terminal; pass --yes to confirm", file=sys.stderr)
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def runners_of(fleet, kind: str, name: str | None = None) -> list:
    return [r for r in fleet.runners if r.backend.kind == kind and (name is None or r.name == name)]


def row_dict(backend: str, row: Any) -> dict[str, Any]:
    return {"backend": backend, **dataclasses.asdict(row)}


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    from servedeck.text import safe

    cells = [[safe("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
