"""A secret from the environment that a container prints is masked in the logs pane."""

from __future__ import annotations

from servedeck import secrets
from servedeck.backends.logs.source import LogEvent
from servedeck.widgets.log_view import sanitise


def test_registered_secret_printed_by_a_process_is_masked():
    token = "tok-9f8e7d6c5b4a-unique-for-this-test"
    secrets.register(token)
    line = sanitise(LogEvent("line", f"auth with \x1b[31m{token}\x1b[0m ok"), now=0.0)
    assert token not in line.text and token not in line.plain
    assert line.plain == "auth with *** ok"


def test_lines_without_secrets_are_untouched():
    line = sanitise(LogEvent("line", "plain \x1b[32mgreen\x1b[0m line"), now=0.0)
    assert line.plain == "plain green line"
    assert "\x1b[32m" in line.text
