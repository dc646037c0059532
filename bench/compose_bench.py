"""Benchmarks of the compose pane (issue 10): the cost of one poll.

A compose poll is one container list with a label filter, then grouping by project and
ordering by depends_on. Measured on a recorded answer of PROJECTS projects of three
services each (v1 labels, depends_on read from each project's file, cached by mtime),
cold (first poll: files parsed, start times inspected) and warm; and one real poll of
the lab's Engine, which runs the lab's Compose stack.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

PROJECTS = 300
SERVICES = ("db", "api", "web")


class RecordedApi:
    """The two Engine calls a compose poll makes, answered from memory."""

    def __init__(self, root: Path):
        self.summaries = []
        for p in range(PROJECTS):
            project = f"proj{p:04d}"
            (root / project).mkdir()
            (root / project / "docker-compose.yml").write_text(
                "services:\n  db: {image: x}\n  api: {image: x, depends_on: {db: {condition: service_healthy}}}\n"
                "  web: {image: x, depends_on: [api]}\n")
            for s in SERVICES:
                self.summaries.append({
                    "Id": f"{p:032x}{SERVICES.index(s):032x}", "Names": [f"/{project}_{s}_1"], "Image": f"{project}-{s}",
                    "State": "running" if s != "web" or p % 7 else "exited",
                    "Status": "Up 3 minutes (healthy)" if s == "db" else ("Up 3 minutes" if s != "web" or p % 7
                                                                          else "Exited (1) 2 minutes ago"),
                    "Ports": [{"PrivatePort": 8000, "PublicPort": 18000 + p, "IP": "127.0.0.1", "Type": "tcp"}],
                    "Labels": {"com.docker.compose.project": project, "com.docker.compose.service": s,
                               "com.docker.compose.project.config_files": "docker-compose.yml",
                               "com.docker.compose.project.working_dir": str(root / project),
                               "com.docker.compose.oneoff": "False"},
                })

    def containers(self, all=True, filters=None):
        return self.summaries

    def inspect_container(self, cid):
        return {"State": {"StartedAt": "2026-12-01T10:00:00.123456789Z"}}

    def ping(self):
        return True


def measure_compose_poll(config: Path, repeat: int) -> dict:
    from servedeck.backends.compose.backend import ComposeBackend, ComposeSettings
    from servedeck.config import load_config

    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as tmp:
        api = RecordedApi(Path(tmp))
        for _ in range(repeat):
            backend = ComposeBackend(ComposeSettings(name="bench"))
            backend._api = lambda: api  # the recorded Engine instead of a socket
            started = time.perf_counter()
            rows = backend.poll(frozenset({"compose"}))["compose"]
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            backend.poll(frozenset({"compose"}))
            warm.append(time.perf_counter() - started)
    result = {"projects": PROJECTS, "rows": len(rows), "cold_poll_median_ms": round(statistics.median(cold) * 1000, 2),
              "warm_poll_median_ms": round(statistics.median(warm) * 1000, 2)}
    targets = load_config(str(config)).config.backends.get("compose") or []
    if targets:  # the lab's own Engine and Compose stack
        backend = ComposeBackend(ComposeSettings(name="lab", url=targets[0]["url"]))
        try:
            backend.poll(frozenset({"compose"}))  # connect, fill the start-time cache
            real = []
            for _ in range(repeat):
                started = time.perf_counter()
                lab_rows = backend.poll(frozenset({"compose"}))["compose"]
                real.append(time.perf_counter() - started)
        finally:
            backend.close()
        result.update({"lab_rows": len(lab_rows), "lab_poll_median_ms": round(statistics.median(real) * 1000, 2)})
    return result


MEASURES: dict[str, Callable[[Path, int], dict]] = {"compose_poll": measure_compose_poll}
