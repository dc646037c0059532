"""CLI verbs, one module each, found by listing this package.

A verb module defines `register(sub)` that adds its subparser(s) to the `servedeck`
parser and sets `handler=<callable(args) -> int>` with `set_defaults`. Verbs never
import Textual at module level (scripts run without the TUI).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_all(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub, parent)
