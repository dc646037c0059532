"""The fault lab: a lab of this suite's own, so killing its services disturbs no other
test. It has its own dockerd (socket, data root and exec root under its directory; the
shared engine on /var/run/docker.sock is never touched), its own SLURM, sshd, Prometheus,
exporters, router and worker, Pylet head and worker, sllm head stand-in (and the
tuner fault's tuning), on ports FAULT_SHIFT above this run's lab ports."""

from __future__ import annotations

from typing import Iterator

import pytest
import yaml

from servedeck.lab.manager import down, up
from servedeck.lab.services.base import LabPorts
from servedeck.lab.state import LabError, LabInfo
from support import PORT_OFFSET

FAULT_SHIFT = 18  # inside one test run's port range (offsets are 37 apart), clear of its lab
INTERVAL = 2.0  # every backend's refresh interval in the fault config


@pytest.fixture(scope="module")
def fault_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    lab_dir = tmp_path_factory.mktemp("faultlab")
    lines: list[str] = []
    try:
        info = up(lab_dir, workers=1, gpus=2, ports=LabPorts().shifted(PORT_OFFSET + FAULT_SHIFT), log=lines.append,
                  own_docker=True, helper=False, timeout=60)
    except LabError as exc:
        pytest.fail(f"the fault lab did not start: {exc}", pytrace=False)
    try:
        yield info
    finally:
        down(lab_dir, log=lines.append)


@pytest.fixture(scope="module")
def fault_config(fault_lab: LabInfo) -> str:
    """The lab's servedeck.yaml with one refresh interval for every backend."""
    data = yaml.safe_load(fault_lab.config_path.read_text())
    for targets in data["backends"].values():
        for target in targets:
            target["interval"] = INTERVAL
    if "tuner" in data:  # the tuner fault's tuning: ports of this run, the built-in benchmark
        from fault_serverless import tuner_settings

        data["tuner"].update(tuner_settings(fault_lab))
    path = fault_lab.dir / "faults.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)
