"""`lab down` stops exactly what `lab up` started: no pid and no listening port survive."""

from __future__ import annotations

from pathlib import Path

import pytest

from servedeck.lab.manager import down, status, up
from servedeck.lab.ports import listening_ports
from servedeck.lab.procs import start_time
from support import lab_ports
from servedeck.lab.state import LabError

pytestmark = pytest.mark.integration


def test_down_leaves_no_process_and_no_port(tmp_path: Path) -> None:
    """A second, fleet-only lab on its own ports (the session lab keeps the defaults)."""
    ports = lab_ports(router=29100, router_metrics=29101, worker_base=30100, dcgm=9410)
    used = {ports.router, ports.router_metrics, ports.worker_base, ports.dcgm}
    info = up(tmp_path, workers=1, gpus=1, ports=ports, log=lambda _: None, services="fleet")
    owned = info.owned()
    try:
        assert {s.name for s in owned} == {"worker-0", "router", "dcgm"}
        assert used <= listening_ports()
    finally:
        down(tmp_path, log=lambda _: None)
    assert [s.name for s in owned if start_time(s.pid) is not None] == []
    assert not (used & listening_ports())
    with pytest.raises(LabError, match="no lab recorded"):
        status(tmp_path)
