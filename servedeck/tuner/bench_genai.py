"""genai-bench for real, when it is installed: the real tool's command line, run offline.

`--max-time-per-run` is in minutes (genai-bench multiplies it by 60). The tokenizer must
be a local directory here (no hub access): settings.tokenizer_dir, else the task's
model_tokenizer when it names an existing directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable

from servedeck.tuner.task import Benchmark

RUNNER = "genai-bench"


def executable(configured: str | None = None) -> str | None:
    if configured:
        return configured if Path(configured).exists() else shutil.which(configured)
    return shutil.which("genai-bench")


def command(exe: str, base_url: str, bench: Benchmark, base_dir: Path, folder: str, tokenizer: str) -> list[str]:
    cmd = [exe, "benchmark", "--api-backend", "openai", "--api-base", base_url, "--api-key", "dummy",
           "--task", bench.task, "--experiment-base-dir", str(base_dir), "--experiment-folder-name", folder,
           "--api-model-name", bench.model_name or "unknown", "--model-tokenizer", tokenizer]
    for scenario in bench.traffic_scenarios:
        cmd += ["--traffic-scenario", scenario]
    for level in bench.num_concurrency:
        cmd += ["--num-concurrency", str(level)]
    max_time = bench.max_time_per_iteration
    cmd += ["--max-time-per-run", str(int(max_time) if float(max_time).is_integer() else max_time),
            "--max-requests-per-run", str(bench.max_requests_per_iteration)]
    if bench.additional_params:
        cmd += ["--additional-request-params", json.dumps(bench.additional_params)]
    return cmd


def run(exe: str, base_url: str, bench: Benchmark, out_dir: Path, tokenizer: str, timeout_s: float,
        log: Callable[[str], None] = lambda line: None) -> int:
    """Runs genai-bench into out_dir (its folder); returns the exit code (-1 on timeout)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    cmd = command(exe, base_url, bench, out_dir.parent, out_dir.name, tokenizer)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ENABLE_UI": "false"}
    log("[genai-bench] " + " ".join(cmd))
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=str(out_dir.parent), env=env, errors="replace") as proc:
        watchdog = threading.Timer(timeout_s, proc.kill)  # the output loop blocks; the timer ends it
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log("[genai-bench] " + line.rstrip())
            code = proc.wait()
        finally:
            timed_out = not watchdog.is_alive() and watchdog.finished.is_set() and proc.returncode < 0
            watchdog.cancel()
        return -1 if timed_out else code
