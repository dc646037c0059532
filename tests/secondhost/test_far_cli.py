"""The second host from the command line, as an operator scripts it: `status --json` and
`docker logs` against a config whose Docker host is `ssh://root@<far address>` and whose
SLURM runs over `ssh: far`; with the host off the network, `status --json` exits with
the unreachable code and says why in one line per backend, with no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from farhost import TICKER
from servedeck.verbs.common import EXIT_OK, EXIT_UNREACHABLE

pytestmark = pytest.mark.integration


def cli(*args: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "servedeck", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120)


def test_status_and_logs_over_ssh_and_the_host_away(far, tmp_path):
    ssh = far.ssh_host()
    config = tmp_path / "far.yaml"
    config.write_text(
        f"ssh:\n  far: {{hostname: '{ssh.hostname}', user: root, key_file: '{ssh.key_file}', "
        f"known_hosts: '{ssh.known_hosts}', connect_timeout_s: 3, keepalive_s: 1}}\n"
        f"backends:\n  docker:\n    - {{name: far-docker, url: '{far.docker_url}', timeout: 5}}\n"
        f"  slurm:\n    - {{name: far-slurm, ssh: far, timeout: 5}}\n")
    done = cli("status", "--json", config=config)
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert {b["name"]: b["state"] for b in doc["backends"]} == {"far-docker": "ok", "far-slurm": "ok"}
    assert [r["name"] for r in doc["containers"]] == [TICKER]

    logs = cli("docker", "logs", TICKER, "--tail", "2", config=config)
    assert logs.returncode == 0, logs.stderr
    assert [line.split()[:2] for line in logs.stdout.splitlines()] == [["far", "tick"]] * 2

    far.down()
    try:
        away = cli("status", "--json", config=config)
    finally:
        far.up()
    assert away.returncode == EXIT_UNREACHABLE, away.stdout + away.stderr
    assert "Traceback" not in away.stderr + away.stdout
    for entry in json.loads(away.stdout)["backends"]:
        assert entry["state"] == "down" and far.addr in entry["error"] and "\n" not in entry["error"], entry
