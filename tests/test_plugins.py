"""Backends are found through the `servedeck.backends` entry-point group, third-party too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from servedeck.backends import registry

DEMO = Path(__file__).parent / "data" / "thirdparty_backend"


def servedeck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "servedeck", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def thirdparty_installed():
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["install", "--no-deps", str(DEMO)], check=True, capture_output=True)
    registry.refresh()
    yield
    subprocess.run(pip + ["uninstall", "-y", "servedeck-loadavg-backend"], check=True, capture_output=True)
    registry.refresh()


def test_builtin_kinds_are_registered_as_entry_points():
    assert {"docker", "prometheus", "slurm", "router"} <= set(registry.installed_kinds())


def test_unknown_kind_lists_installed_ones():
    with pytest.raises(registry.UnknownBackendKind) as info:
        registry.load_kind("nope")
    assert "docker" in str(info.value) and "router" in str(info.value)


def test_thirdparty_backend_appears_and_runs(thirdparty_installed, tmp_path):
    listing = servedeck("backends")
    assert "loadavg" in listing.stdout
    cfg = tmp_path / "c.yaml"
    cfg.write_text("backends:\n  loadavg:\n    - name: here\n")
    assert servedeck("validate", "--config", str(cfg)).returncode == 0
    status = servedeck("status", "--json", "--config", str(cfg))
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["backends"][0] == {**doc["backends"][0], "name": "here", "kind": "loadavg", "state": "ok"}
    assert doc["loadavg"][0]["backend"] == "here"
    assert isinstance(doc["loadavg"][0]["load1"], float)


def test_thirdparty_backend_failure_is_a_state_and_exit_4(thirdparty_installed, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"backends:\n  loadavg:\n    - name: gone\n      path: {tmp_path}/nope\n")
    status = servedeck("status", "--json", "--config", str(cfg))
    assert status.returncode == 4  # EXIT_UNREACHABLE
    (backend,) = json.loads(status.stdout)["backends"]
    assert backend["state"] == "down"
    assert backend["error"] == f"cannot read {tmp_path}/nope: No such file or directory"


def test_thirdparty_settings_are_validated_by_its_own_model(thirdparty_installed, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("backends:\n  loadavg:\n    - name: here\n      paht: /x\n")
    result = servedeck("validate", "--config", str(cfg))
    assert result.returncode == 1
    assert result.stdout.strip() == f"{cfg}:4:7: unknown key 'paht' in backends.loadavg[0]"
