"""GPUs for experiments: the N with the most free memory, none given to two at once.

Free memory comes from `nvidia-smi --query-gpu=index,memory.free` (as the real tool does)
or, on machines without GPUs, from a configured stand-in pool.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

from typing import Any

from servedeck.tuner.settings import GPUSettings, TunerSettings


def query_free() -> list[tuple[int, int]]:
    """(index, free MiB) of every GPU nvidia-smi sees; empty without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        done = subprocess.run([exe, "--query-gpu=index,memory.free", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return []
    out = []
    for line in done.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            out.append((int(parts[0]), int(parts[1])))
    return out


class GPUPool:
    def __init__(self, settings: GPUSettings) -> None:
        self.settings = settings
        self._taken: set[int] = set()
        self._lock = threading.Lock()

    def free_memory(self) -> list[tuple[int, int]]:
        if self.settings.standin_count is not None:
            return [(i, self.settings.standin_memory_mib) for i in range(self.settings.standin_count)]
        return query_free()

    def total(self) -> int:
        return len(self.free_memory())

    def acquire(self, count: int) -> list[int] | None:
        """`count` GPU indexes (most free memory first), or None when not enough are free."""
        if count <= 0:
            return []
        with self._lock:
            free = sorted((g for g in self.free_memory() if g[0] not in self._taken), key=lambda g: -g[1])
            if len(free) < count:
                return None
            picked = sorted(i for i, _ in free[:count])
            self._taken.update(picked)
            return picked

    def release(self, gpus: list[int]) -> None:
        with self._lock:
            self._taken.difference_update(gpus)


def gpus_needed(task: Any, settings: TunerSettings, params: dict[str, Any]) -> int:
    """GPUs one experiment needs: the configured count, else its tp-size, else 1."""
    if settings.gpus.per_experiment is not None:
        return settings.gpus.per_experiment
    for name in ("tp-size", "tp_size", "tp"):
        if isinstance(params.get(name), int) and not isinstance(params.get(name), bool):
            return int(params[name])
    return 1
