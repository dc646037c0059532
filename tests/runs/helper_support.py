"""Manifests written the way init-run.sh writes them, for tests that need files only."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_manifest(directory: Path, run_id: str, *, warnings: list[str], epoch: int = 1_700_000_000) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "schema_version": 1, "run_id": run_id, "started": "2023-11-14T22:13:20Z", "started_epoch": epoch,
        "telemetry_surfaces": {
            "sglang_metrics": {"status": "expected", "port": 30000},
            "tracing": {"status": "absent", "port": 4317},
            "node_metrics": {"status": "running", "port": 9100},
            "dcgm_metrics": {"status": "absent", "port": 9400},
        },
        "exporters": {"node_exporter": {"status": "running", "binary": "/usr/bin/node_exporter"}},
        "paths": {"host": {"log_file": f"/h/logs/{run_id}.log"}, "container": {"log_file": f"logs/{run_id}.log"}},
        "profile_storage": {"triton": {"path": "/h/profiles/triton", "present": True},
                            "deep_gemm": {"path": "/h/profiles/deep_gemm", "present": False}},
        "storage_roots": {"models": "/h/models", "huggingface": "/h/models/huggingface", "profiles": "/h/profiles"},
        "storage": {"log_file": f"/telemetry/logs/{run_id}.log"},
        "warnings": warnings,
    }
    path = directory / f"{run_id}.json"
    path.write_text(json.dumps(data, indent=2))
    os.utime(path, (epoch, epoch))
    return path
