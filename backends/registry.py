"""Finds backend kinds through the `servedeck.backends` entry-point group.

Built-in kinds are registered there exactly like a third-party package's, so listing
kinds never imports them and an unknown kind is an error naming the installed ones.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from servedeck.backends.base import Backend

GROUP = "servedeck.backends"


class UnknownBackendKind(LookupError):
    def __init__(self, kind: str, installed: list[str]):
        self.kind = kind
        self.installed = installed
        super().__init__(
            f"unknown backend kind {kind!r}; installed: {', '.join(installed) or 'none'}"
        )


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def installed_kinds() -> list[str]:
    """Names of every registered backend kind, without importing any of them."""
    return sorted(_entry_points())


def load_kind(kind: str) -> type[Backend]:
    eps = _entry_points()
    if kind not in eps:
        raise UnknownBackendKind(kind, sorted(eps))
    cls = eps[kind].load()
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise TypeError(f"entry point {kind!r} ({eps[kind].value}) is not a servedeck Backend")
    return cls


def refresh() -> None:
    """Forget cached entry points (after installing a package at run time, in tests)."""
    _entry_points.cache_clear()
