"""Shared by tests/pylet and tests/sllm: the lab's ServerlessLLM stack (real Pylet head and
worker, the sllm head stand-in) and running servedeck's verbs against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from servedeck.lab.manager import down, up
from servedeck.lab.state import LabError, LabInfo
from support import lab_ports


# Not the session lab's ports: that lab runs its own ServerlessLLM stack, which these
# tests must not break (they kill a worker and stop the Pylet head). Pylet instance ports
# follow the worker's (+1..+20), clear of the session lab's.
STACK_PORTS = {"pylet_head": 8010, "pylet_worker": 15629, "sllm_head": 8353}


def start_stack(dir: Path) -> LabInfo:
    lines: list[str] = []
    try:
        return up(dir, ports=lab_ports(**STACK_PORTS), services="sllm", log=lines.append)
    except LabError as exc:
        pytest.fail(f"the lab's ServerlessLLM stack did not start: {exc} | {' | '.join(lines)}", pytrace=False)


_STACK: list[LabInfo] = []


def stack_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LabInfo:
    """One stack per test session, shared by tests/pylet and tests/sllm (each conftest
    declares the fixture; the first to run starts the stack, the session's end stops it).
    Tests that break it put it back (a killed worker is replaced, a stopped head resumed)."""
    if not _STACK:
        info = start_stack(tmp_path_factory.mktemp("sllm-lab"))
        _STACK.append(info)

        def stop() -> None:
            down(info.dir, log=lambda _: None)
            _STACK.clear()
        request.session.addfinalizer(stop)  # type: ignore[attr-defined]
    return _STACK[0]


def url_of(info: LabInfo, name: str) -> str:
    rec = info.service(name)
    assert rec is not None and rec.url, f"the lab has no {name}"
    return rec.url


def servedeck(info: LabInfo, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Runs a verb on the lab's config, as a script would."""
    return subprocess.run([sys.executable, "-m", "servedeck", *args, "--config", str(info.config_path)],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, "HOME": str(info.dir)})


def verb_json(info: LabInfo, *args: str) -> Any:
    result = servedeck(info, *args, "--json")
    assert result.stdout, f"{args}: no output (rc {result.returncode}): {result.stderr}"
    return json.loads(result.stdout)


def until(fn: Callable[[], Any], timeout: float = 60.0, pause: float = 0.3, what: str = "") -> Any:
    """fn() until it is truthy (a bounded wait: a hung service fails the test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f}s: {what or fn}")
        time.sleep(pause)


def submit(pylet_url: str, command: str, *, name: str, gpus: int = 1, labels: dict | None = None) -> str:
    """An instance submitted straight to Pylet, as any Pylet client would."""
    response = httpx.post(f"{pylet_url}/instances", json={
        "command": command, "name": name, "labels": labels or {"type": "test"},
        "resource_requirements": {"cpu_cores": 1, "gpu_units": gpus, "memory_mb": 256}}, timeout=5)
    response.raise_for_status()
    return response.json()["instance_id"]


def instance(pylet_url: str, instance_id: str) -> dict:
    return httpx.get(f"{pylet_url}/instances/{instance_id}", timeout=5).json()
