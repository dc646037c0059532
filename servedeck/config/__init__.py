"""The config file: its schema, loader and located errors."""

from servedeck.config.errors import ConfigError, Problem
from servedeck.config.loader import EMBEDDED, LoadedConfig, Target, load_config, load_text
from servedeck.config.model import ServedeckConfig, SSHHost

__all__ = [
    "ConfigError", "Problem", "EMBEDDED", "LoadedConfig", "Target", "load_config", "load_text",
    "ServedeckConfig", "SSHHost",
]
