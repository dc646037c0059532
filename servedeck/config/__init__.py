"""The config file: its schema, loader and located errors.

The names below load on first use, so that importing one layer (say `config.document`,
which the orchestrator's schema needs) does not pull in the loader above it.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ConfigError": "errors", "Problem": "errors",
    "EMBEDDED": "loader", "LoadedConfig": "loader", "Target": "loader", "load_config": "loader", "load_text": "loader",
    "ServedeckConfig": "model", "SSHHost": "model",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'servedeck.config' has no attribute {name!r}")
    return getattr(importlib.import_module(f"servedeck.config.{_EXPORTS[name]}"), name)
