"""Helpers for the autotuner tests: task files, the tuner config, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support import PORT_OFFSET

PREFIX = f"sd{PORT_OFFSET}tun"  # every container these tests make starts with it
IMAGE = f"servedeck{PORT_OFFSET}-standin-sglang:test"
PORT_RANGE = (20000 + 10 * PORT_OFFSET, 20000 + 10 * PORT_OFFSET + 9)


def write_config(root: Path, docker_url: str, *, gpus: int = 4, **extra: Any) -> Path:
    tuner = {"docker_url": docker_url, "image": IMAGE, "port_range": list(PORT_RANGE), "health_poll_s": 0.3,
             "gpus": {"request": "env", "standin_count": gpus}, "state_dir": str(root / "state"),
             "results_dir": str(root / "results"), "container_prefix": PREFIX, **extra}
    path = root / "servedeck.yaml"
    path.write_text(json.dumps({"tuner": tuner}, indent=2))
    return path


def write_task(root: Path, name: str, parameters: dict[str, Any], *, fmt: str = "json", **sections: Any) -> Path:
    task = {
        "task_name": name, "description": "test", "deployment_mode": "docker",
        "model": {"id_or_path": "standin-model", "namespace": "autotuner"}, "base_runtime": "sglang",
        "parameters": parameters,
        "optimization": {"strategy": "grid_search", "objective": "minimize_latency", "timeout_per_iteration": 60},
        "benchmark": {"task": "text-to-text", "model_name": "standin-model", "model_tokenizer": "standin",
                      "traffic_scenarios": ["D(10,10)"], "num_concurrency": [1, 4], "max_time_per_iteration": 1,
                      "max_requests_per_iteration": 8, "additional_params": {"temperature": 0.0}},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(task.get(key), dict):
            task[key] = {**task[key], **value}
        else:
            task[key] = value
    path = root / f"{name}.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(task, indent=2))
    else:
        import yaml
        path.write_text(yaml.safe_dump(task, sort_keys=False))
    return path


def servedeck(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "servedeck", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def results_of(root: Path, name: str) -> dict[str, Any]:
    return json.loads((root / "results" / f"{name}_results.json").read_text())


def state_of(root: Path, name: str) -> dict[str, Any]:
    return json.loads((root / "state" / f"{name}.json").read_text())
