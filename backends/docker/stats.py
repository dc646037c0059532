"""CPU % and memory of running containers, sampled in parallel and only when shown.

The first sample of a container asks the Engine for a full sample (it waits about a
second to measure CPU itself); later ones are `one-shot` samples, which return at once,
and CPU % comes from the difference to the previous sample, as `docker stats` computes it.
A one-shot caller (`status --json`) takes two one-shot samples a moment apart instead
(`sample_quick`): CPU % over a shorter window, in a quarter of the time.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping

MAX_PARALLEL = 8
QUICK_GAP_S = 0.2  # between the two one-shot samples of `sample_quick`


@dataclass(frozen=True)
class Usage:
    cpu_percent: float | None
    mem_bytes: int | None


@dataclass(frozen=True)
class _Sample:
    cpu_total: int
    system: int
    online: int


def _sample(stats: Mapping[str, Any], key: str) -> _Sample | None:
    cpu = stats.get(key) or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    system = cpu.get("system_cpu_usage")
    if total is None or system is None:
        return None
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    return _Sample(int(total), int(system), int(online))


def cpu_percent(before: _Sample | None, after: _Sample | None) -> float | None:
    if before is None or after is None:
        return None
    d_cpu, d_sys = after.cpu_total - before.cpu_total, after.system - before.system
    if d_sys <= 0 or d_cpu < 0:
        return None
    return round(d_cpu / d_sys * after.online * 100.0, 2)


def mem_bytes(stats: Mapping[str, Any]) -> int | None:
    """Usage minus page cache, like `docker stats` (cgroup v1 `cache`, v2 `inactive_file`)."""
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is None:
        return None
    detail = mem.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", detail.get("cache", 0))) or 0
    return max(0, int(usage) - int(cache))


class StatsSampler:
    """Keeps the previous sample per container so one-shot samples give CPU %."""

    def __init__(self) -> None:
        self._previous: dict[str, _Sample] = {}

    def sample(self, fetch: Callable[[str, bool], Mapping[str, Any]], ids: list[str], *,
               one_shot: bool = False) -> dict[str, Usage]:
        """`fetch(id, one_shot)` returns the Engine's stats document; failures give no usage.
        `one_shot` asks for one-shot samples even of containers seen for the first time."""
        if not ids:
            self._previous.clear()
            return {}

        def one(cid: str) -> tuple[str, Usage | None]:
            prev = self._previous.get(cid)
            try:
                stats = fetch(cid, one_shot or prev is not None)
            except Exception:
                return cid, None
            now = _sample(stats, "cpu_stats")
            pct = cpu_percent(prev, now) if prev is not None else cpu_percent(_sample(stats, "precpu_stats"), now)
            if now is not None:
                self._previous[cid] = now
            return cid, Usage(pct, mem_bytes(stats))

        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ids))) as pool:
            results = dict(pool.map(one, ids))
        self._previous = {k: v for k, v in self._previous.items() if k in results}
        return {k: v for k, v in results.items() if v is not None}

    def sample_quick(self, fetch: Callable[[str, bool], Mapping[str, Any]], ids: list[str]) -> dict[str, Usage]:
        """Usage now, for a caller that polls once: two one-shot rounds QUICK_GAP_S apart."""
        fresh = [cid for cid in ids if cid not in self._previous]
        if fresh:
            self.sample(fetch, fresh, one_shot=True)
            time.sleep(QUICK_GAP_S)
        return self.sample(fetch, ids)
