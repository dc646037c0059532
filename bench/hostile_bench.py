"""Benchmarks of hostile input (issue 15, part 3): what a 50 MB run manifest, a deeply
nested one and a YAML alias bomb cost. Each case runs in a fresh interpreter, so its
peak RSS (ru_maxrss) is its own; `baseline` is the same poll without the hostile file.

    .venv/bin/python bench/hostile_bench.py     (or through bench/run.py --only hostile_input)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking parent.
_HWM = r"""
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
"""

_POLL = _HWM + r"""
import resource, sys, time
from servedeck.backends.runs.backend import RunsBackend
from servedeck.backends.runs.settings import RunsSettings
from servedeck.backends.base import PartialPoll
backend = RunsBackend(RunsSettings(name="b", storage_root=sys.argv[1], docker_url="unix:///nonexistent.sock"))
t = time.perf_counter()
try:
    rows = backend.poll(frozenset({"container_runs"}))["container_runs"]
except PartialPoll as exc:
    rows = exc.panes["container_runs"]
print(len(rows), round((time.perf_counter() - t) * 1000, 1), hwm())
"""

_VALIDATE = _HWM + r"""
import resource, sys, time
from servedeck.config import ConfigError, load_config
t = time.perf_counter()
try:
    load_config(sys.argv[1])
except ConfigError:
    pass
print(0, round((time.perf_counter() - t) * 1000, 1), hwm())
"""


def _run(script: str, arg: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, arg], capture_output=True, text=True, timeout=300)
    if out.returncode != 0 or len(out.stdout.split()) != 3:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": tail[:200]}
    rows, ms, rss = out.stdout.split()
    return {"rows": int(rows), "ms": float(ms), "peak_rss_mb": int(rss)}


def _manifest(run_id: str) -> dict:
    return {"run_id": run_id, "started": "2026-01-01T00:00:00Z", "telemetry_surfaces": {}, "paths": {},
            "storage": {}, "warnings": []}


def measure_hostile_input(_config: Path | None = None, _repeat: int = 1) -> dict:
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        root = Path(tmp)
        runs = root / "telemetry" / "container_runs"
        runs.mkdir(parents=True)
        for i in range(5):
            (runs / f"container-run-2026010{i}T000000Z-aa.json").write_text(json.dumps(_manifest(f"r{i}")))
        results["runs_poll_baseline"] = _run(_POLL, tmp)
        big = runs / "container-run-20260109T000000Z-big.json"
        big.write_text('{"warnings": [], "blob": "' + "x" * (50 * 1024 * 1024) + '"}')
        results["runs_poll_with_50MB_manifest"] = _run(_POLL, tmp)
        big.write_text("[" * 1_000_000 + "]" * 1_000_000)
        results["runs_poll_with_1M_deep_manifest"] = _run(_POLL, tmp)
        bomb = root / "bomb.yaml"
        text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        prev = "a"
        for name in "bcdefghi":
            text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
            prev = name
        bomb.write_text(text)
        results["config_alias_bomb"] = _run(_VALIDATE, str(bomb))
        deep = root / "deep.yaml"
        deep.write_text("ui:\n  theme: " + "[" * 100_000 + "]" * 100_000 + "\n")
        results["config_deep_yaml"] = _run(_VALIDATE, str(deep))
    return results


MEASURES: dict[str, Callable[[Path, int], dict]] = {"hostile_input": measure_hostile_input}

if __name__ == "__main__":
    print(json.dumps(measure_hostile_input(), indent=2))
