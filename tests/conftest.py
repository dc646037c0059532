"""Shared fixtures. `lab` runs the real local lab once per test session.

The lab fails loudly when a service cannot start: CI installs everything
(scripts/setup.sh), so a missing service is a broken machine, not a reason to skip.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from servedeck.lab.manager import down, up
from servedeck.lab.state import LabError, LabInfo
from support import lab_ports


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    lab_dir = tmp_path_factory.mktemp("lab")
    lines: list[str] = []
    try:
        info = up(lab_dir, workers=2, gpus=4, ports=lab_ports(), log=lines.append)
    except LabError as exc:
        pytest.fail(f"the local lab did not start: {exc}", pytrace=False)
    missing = [what for what, value in [
        ("prometheus", info.prometheus_url), ("node_exporter", info.node_exporter_url),
        ("docker", info.docker_url), ("sshd", info.ssh), ("slurm", info.slurm),
    ] if not value]
    if missing:
        down(lab_dir, log=lines.append)
        pytest.fail(f"the lab started without {', '.join(missing)} (run scripts/setup.sh): "
                    + " | ".join(lines), pytrace=False)
    try:
        yield info
    finally:
        down(lab_dir, log=lines.append)


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cockpit appends its event feed under the state dir: tests keep theirs private."""
    import os

    if "SERVEDECK_STATE_DIR" not in os.environ:
        monkeypatch.setenv("SERVEDECK_STATE_DIR", str(tmp_path_factory.getbasetemp() / "state"))
