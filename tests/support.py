"""Helpers shared by tests (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os

from servedeck.lab.services.base import LabPorts

# Several developers' test runs can share a machine: each sets its own offset.
PORT_OFFSET = int(os.environ.get("SERVEDECK_TEST_PORT_OFFSET", "0"))


def lab_ports(**overrides: int) -> LabPorts:
    """Lab ports for tests, moved by SERVEDECK_TEST_PORT_OFFSET."""
    return LabPorts(**overrides).shifted(PORT_OFFSET)


def router_urls(lab) -> list[str]:
    """Every worker URL the lab's router serves: its stand-in workers and the orchestrator's
    deployment (through their tunnels' local ends)."""
    from servedeck.lab.services.orchestrator import worker_urls

    return [*lab.worker_urls, *worker_urls(lab.dir)]
