"""Where servedeck's config file is, without importing the config model (the
orchestrator's verbs need only the path, and the model costs most of their start)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PATH = Path("~/.config/servedeck/config.yaml")


def resolve_path(explicit: str | None) -> Path | None:
    """--config, else $SERVEDECK_CONFIG, else ~/.config/servedeck/config.yaml if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("SERVEDECK_CONFIG")
    if env:
        return Path(env)
    default = DEFAULT_PATH.expanduser()
    return default if default.exists() else None
