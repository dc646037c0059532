"""Benchmarks of the run-manifests pane (issue 3): polling a long manifest history.

The `runs` backend re-reads the pointer and lists container_runs/ on every poll; it
parses a manifest only when its size or mtime changed. Measured over 200 manifests
written the way init-run.sh writes them: a cold poll (everything parsed) and a warm one.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

HISTORY = 200


def _write_history(root: Path) -> None:
    runs = root / "telemetry" / "container_runs"
    runs.mkdir(parents=True)
    for i in range(HISTORY):
        run_id = f"container-run-20260101T{i:06d}Z-{i:08x}"
        data = {
            "run_id": run_id, "started": "2026-01-01T00:00:00Z", "started_epoch": 1_767_225_600 + i,
            "telemetry_surfaces": {s: {"status": "running"} for s in ("sglang_metrics", "tracing", "node_metrics",
                                                                      "dcgm_metrics")},
            "paths": {"host": {"log_file": f"/h/{run_id}.log"}, "container": {"log_file": f"logs/{run_id}.log"}},
            "profile_storage": {p: {"path": f"/h/profiles/{p}", "present": bool(i % 2)}
                                for p in ("deep_gemm", "flashinfer", "moe_configs", "torchinductor", "triton")},
            "storage_roots": {"models": "/h/models"}, "storage": {"log_file": f"/telemetry/logs/{run_id}.log"},
            "warnings": ["dcgm-exporter failed to start"] if i % 3 else [],
        }
        (runs / f"{run_id}.json").write_text(json.dumps(data, indent=2))
    (root / "telemetry" / "container_run_meta.env").write_text(
        f"CONTAINER_RUN_META_JSON_HOST={runs}/container-run-20260101T000199Z-000000c7.json\n")


def measure_runs_poll(_config: Path, repeat: int) -> dict:
    from servedeck.backends.runs.backend import RunsBackend
    from servedeck.backends.runs.settings import RunsSettings

    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        _write_history(Path(tmp))
        settings = RunsSettings(name="bench", storage_root=tmp, history=HISTORY)
        for _ in range(repeat):
            backend = RunsBackend(settings)
            started = time.perf_counter()
            rows = backend.poll(frozenset({"container_runs"}))["container_runs"]
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            backend.poll(frozenset({"container_runs"}))
            warm.append(time.perf_counter() - started)
    return {"manifests": len(rows), "cold_poll_median_ms": round(statistics.median(cold) * 1000, 2),
            "warm_poll_median_ms": round(statistics.median(warm) * 1000, 2)}


MEASURES: dict[str, Callable[[Path, int], dict]] = {"runs_poll": measure_runs_poll}
