"""The lab listens on loopback only: every port a lab service listens on (SLURM's
slurmctld and slurmd included) is bound to 127.0.0.1 or ::1, never to all addresses,
as the kernel's table of listening sockets says."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc writes them


def listening_addresses() -> dict[int, set[str]]:
    """port -> the local addresses of TCP sockets listening on it (/proc/net/tcp, tcp6)."""
    found: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                address, port = fields[1].rsplit(":", 1)
                found.setdefault(int(port, 16), set()).add(address)
    return found


def test_every_lab_service_listens_on_loopback_only(lab):
    listening = listening_addresses()
    ports = {s.name: s.port for s in lab.owned() if s.port}
    assert {"slurmctld", "slurmd", "sshd", "router", "prometheus"} <= set(ports), ports
    wide = {name: sorted(listening.get(port, set()) - LOOPBACK) for name, port in ports.items()
            if listening.get(port, set()) - LOOPBACK}
    assert wide == {}, f"listening beyond loopback: {wide}"
    assert listening.get(ports["slurmctld"]) and listening.get(ports["slurmd"]), "SLURM is not listening at all"
