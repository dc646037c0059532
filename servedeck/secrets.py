"""Keeps secrets that came from the environment off the screen and out of logs.

Values expanded from `${VAR}` where VAR looks like a secret (token, password, key...)
or that land in a secret-typed field are registered here; every message drawn or
logged passes through `redact`.
"""

from __future__ import annotations

import logging
import os
import re
import threading

SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASS|PASSWORD|KEY|AUTH|CREDENTIAL|COOKIE|JWT)", re.I)
MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()


def looks_secret(env_name: str) -> bool:
    return bool(SECRET_NAME.search(env_name))


def register(value: str) -> None:
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


# Environment variables whose value is a credential whatever the config says about them.
CREDENTIAL_NAME = re.compile(r"(_|^)(TOKEN|SECRET|PASSWORD|PASSWD|JWT|API_KEY|ACCESS_KEY|PRIVATE_KEY)$", re.I)


def register_env(env_name: str | None) -> None:
    """The value of an environment variable that authenticates (a config's `*_env` field)."""
    if env_name:
        register(os.environ.get(env_name, ""))


def register_environment() -> None:
    """Every `*_TOKEN`, `*_SECRET`, `*_PASSWORD`... in the environment: such values may
    reach a message through a library or an error body even when no config names them."""
    for name, value in os.environ.items():
        if CREDENTIAL_NAME.search(name):
            register(value)


def has_secrets() -> bool:
    """Cheap check for hot paths (every log line): is there anything to mask at all?"""
    return bool(_secrets)


def redact(text: str) -> str:
    if not _secrets or not text:
        return text
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactingStream:
    """A text stream that masks registered secrets in everything written to it (the CLI
    verbs' stdout and stderr: tables, JSON, error lines alike)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets in every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def register_model(settings) -> None:
    """SecretStr values of a pydantic model (nested ones too), and the values of the
    environment variables its `*_env` fields name (auth_header_env, token_env...): both
    authenticate, so both are masked."""
    from pydantic import BaseModel, SecretStr

    for field_name in type(settings).model_fields:
        value = getattr(settings, field_name)
        if isinstance(value, SecretStr):
            register(value.get_secret_value())
        elif field_name.endswith("_env") and isinstance(value, str):
            register_env(value)
        elif isinstance(value, BaseModel):
            register_model(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, BaseModel):
                    register_model(item)
