"""The CLI verbs as a script sees them: output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens on it here


def servedeck(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "servedeck", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def test_validate_valid_config_says_so(tmp_path):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(f"backends:\n  router:\n    - name: r\n      url: {CLOSED_PORT_URL}\n")
    result = servedeck("validate", "--config", str(cfg))
    assert result.returncode == 0
    assert result.stdout.strip() == f"{cfg}: valid (1 backend target)"


def test_validate_prints_one_located_line_per_problem(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("ui:\n  theme: nord\n  colour: red\nreadonly: perhaps\n")
    result = servedeck("validate", "--config", str(cfg))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"{cfg}:3:3: unknown key 'colour' in ui"
    assert lines[1].startswith(f"{cfg}:4:1: readonly:")
    assert "Traceback" not in result.stderr


def test_validate_never_prints_env_values(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("ssh:\n  h:\n    hostname: x\n    port: ${SD_TEST_TOKEN}\n")
    result = servedeck("validate", "--config", str(cfg), env={"SD_TEST_TOKEN": "tok-ABCDEF-123456"})
    assert result.returncode == 1
    assert "tok-ABCDEF-123456" not in result.stdout + result.stderr
    assert f"{cfg}:4:5" in result.stdout


def test_status_json_reports_unreachable_backends_and_exits_4(tmp_path):
    cfg = tmp_path / "down.yaml"
    cfg.write_text(
        "backends:\n"
        f"  router:\n    - name: r\n      url: {CLOSED_PORT_URL}\n"
        f"  prometheus:\n    - name: p\n      url: {CLOSED_PORT_URL}\n"
        "  docker:\n    - name: d\n      url: unix:///nonexistent/docker.sock\n"
    )
    result = servedeck("status", "--json", "--config", str(cfg))
    assert result.returncode == 4, result.stderr  # EXIT_UNREACHABLE
    doc = json.loads(result.stdout)
    by_name = {b["name"]: b for b in doc["backends"]}
    assert set(by_name) == {"r", "p", "d"}
    for entry in by_name.values():
        assert entry["state"] == "down"
        assert entry["error"]  # a one-line reason
        assert "\n" not in entry["error"]
        assert isinstance(entry["latency_ms"], (int, float))
    assert "Traceback" not in result.stderr


def test_status_with_a_bad_config_exits_2_with_located_errors(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("bogus: 1\n")
    result = servedeck("status", "--json", "--config", str(cfg))
    assert result.returncode == 2
    assert f"{cfg}:1:1: unknown key 'bogus'" in result.stderr


def test_version_and_help():
    assert servedeck("--version").stdout.startswith("servedeck ")
    help_text = servedeck("--help").stdout
    for verb in ("validate", "status", "lab", "backends"):
        assert verb in help_text


def test_validate_rejects_an_unknown_theme_at_its_line(tmp_path):
    cfg = tmp_path / "theme.yaml"
    cfg.write_text("readonly: false\nui:\n  theme: no-such-theme\n")
    result = servedeck("validate", "--config", str(cfg))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{cfg}:3:3: ui.theme: unknown theme 'no-such-theme'; available: ")
    assert "nord" in result.stdout
