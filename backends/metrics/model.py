"""The immutable rows of the gauge panes and the value rules they share.

Field names of GpuRow, NodeRow and ServingRow are exactly the keys `status --json`
promises (`gpus`, `nodes`, `serving`); the extra fields after them (levels, history,
state...) are what the panes draw. Both data sources (Prometheus and direct scrape)
build these rows through the same helpers here, so a value means the same either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

# dcgm-exporter prints DCGM's "blank" markers when a field has no data: the int64 blank
# is ~9.22e18, the fp64 blank 1.4e14, the int32 blank 2147483632 (0x7ffffff0) and up.
_FP64_BLANK = 140737488355328.0
_INT32_BLANK = (0x7FFFFFF0, 0x7FFFFFFF)

Labels = Mapping[str, str]


def clean(value: float | None) -> float | None:
    """A gauge value, or None for NaN, infinities and DCGM's blank sentinels ("n/a")."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    if abs(value) >= _FP64_BLANK or _INT32_BLANK[0] <= value <= _INT32_BLANK[1]:
        return None
    return value


def gpu_host(labels: Labels) -> str:
    """The host a DCGM series belongs to: `Hostname` (released dcgm-exporter) or
    `hostname` (newer), else the scrape instance without its port."""
    host = labels.get("Hostname") or labels.get("hostname")
    if host:
        return host
    return host_of(labels.get("instance", "")) or "?"


def host_of(instance: str) -> str:
    """`host` of a `host:port` instance label (IPv6 brackets kept)."""
    if instance.startswith("["):
        return instance.split("]", 1)[0] + "]"
    return instance.rsplit(":", 1)[0] if ":" in instance else instance


def gpu_owner(labels: Labels) -> str:
    """Who uses a GPU, from dcgm-exporter's job-mapping labels (SLURM `hpc_job`,
    Kubernetes `namespace`/`pod`/`container`); "" when it does not say."""
    job = labels.get("hpc_job") or labels.get("HPC_JOB")
    if job:
        return f"job {job}"
    pod = labels.get("pod") or labels.get("exported_pod")
    if pod:
        ns = labels.get("namespace") or labels.get("exported_namespace")
        return f"pod {ns}/{pod}" if ns else f"pod {pod}"
    container = labels.get("container") or labels.get("exported_container")
    return f"ctr {container}" if container else ""


# -- thresholds -------------------------------------------------------------------------

OK, WARN, CRIT = "ok", "warn", "crit"


def level(value: float | None, warn: float | None, crit: float | None) -> str:
    """ok / warn / crit for a value against its thresholds (None thresholds never fire)."""
    if value is None:
        return OK
    if crit is not None and value >= crit:
        return CRIT
    if warn is not None and value >= warn:
        return WARN
    return OK


def percent(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return 100.0 * part / whole


# -- histograms -------------------------------------------------------------------------


def bucket_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram given as (le, count) pairs, interpolated
    linearly inside a bucket exactly as PromQL's histogram_quantile does; None when the
    histogram is empty (no requests in the window)."""
    pts = sorted((le, c) for le, c in buckets if not math.isnan(c))
    if len(pts) < 2 or not math.isinf(pts[-1][0]):
        return None
    total = pts[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in pts:
        if count >= rank:
            if math.isinf(le):  # in the +Inf bucket: the highest finite bound
                return prev_le
            if le <= 0 or count == prev_count:
                return le
            lower = prev_le if prev_le > 0 or le > 0 else 0.0
            return lower + (le - lower) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


# -- rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuRow:
    host: str
    gpu: str
    uuid: str
    model: str
    util_percent: float | None
    mem_used_mib: float | None
    mem_total_mib: float | None
    temp_c: float | None
    power_w: float | None
    stale: bool
    # -- display extras --
    id: str = ""  # host/gpu: unique within one backend
    sm_clock_mhz: float | None = None
    xid_errors: float | None = None
    used_by: str = ""  # the job, pod or serving instance this GPU is tied to
    state: str = "ok"  # ok, stale, down (its exporter)
    age_s: float | None = None  # seconds since its last sample, when stale
    instance: str = ""  # the exporter that serves it
    levels: tuple[tuple[str, str], ...] = ()  # (field, ok|warn|crit) by the thresholds
    palette: tuple[str, str, str] = ("green", "yellow", "red")  # ok, warn, crit colours
    history: tuple[float, ...] = ()  # utilisation, oldest first, for the sparkline

    @property
    def mem_percent(self) -> float | None:
        return percent(self.mem_used_mib, self.mem_total_mib)

    def level_of(self, field: str) -> str:
        return dict(self.levels).get(field, OK)


@dataclass(frozen=True)
class NodeRow:
    host: str
    cpu_percent: float | None
    mem_used_bytes: float | None
    mem_total_bytes: float | None
    load1: float | None
    # -- display extras --
    stale: bool = False
    state: str = "ok"
    age_s: float | None = None
    instance: str = ""
    history: tuple[float, ...] = ()  # CPU %

    @property
    def mem_percent(self) -> float | None:
        return percent(self.mem_used_bytes, self.mem_total_bytes)


@dataclass(frozen=True)
class ServingRow:
    instance: str
    model: str
    running_reqs: float | None
    queued_reqs: float | None
    gen_throughput: float | None
    token_usage: float | None
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    tpot_p50_s: float | None
    # -- display extras --
    tpot_p99_s: float | None = None
    e2e_p99_s: float | None = None
    cache_hit_rate: float | None = None
    request_rate: float | None = None  # requests/s over the rate window
    stale: bool = False
    state: str = "ok"
    age_s: float | None = None
    history: tuple[float, ...] = ()  # generation throughput

    # latencies drawn in milliseconds (cells format `_ms` columns)
    @property
    def ttft_p50_ms(self) -> float | None:
        return _ms(self.ttft_p50_s)

    @property
    def ttft_p99_ms(self) -> float | None:
        return _ms(self.ttft_p99_s)

    @property
    def tpot_p50_ms(self) -> float | None:
        return _ms(self.tpot_p50_s)

    @property
    def tpot_p99_ms(self) -> float | None:
        return _ms(self.tpot_p99_s)

    @property
    def e2e_p99_ms(self) -> float | None:
        return _ms(self.e2e_p99_s)


@dataclass(frozen=True)
class RouterRow:
    instance: str  # the router's metrics endpoint
    generation: str  # "smg" (sglang-router 0.3+) or "sgl_router" (older)
    workers_healthy: int | None
    workers_total: int | None
    pool_size: float | None
    breakers_open: int | None  # workers whose circuit breaker is open or half-open
    request_rate: float | None
    stale: bool = False
    state: str = "ok"
    age_s: float | None = None
    history: tuple[float, ...] = ()  # request rate


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def gpu_order(row: GpuRow) -> tuple[str, int, str]:
    """Where a GPU goes: by host, then by GPU index (numerically when it is a number)."""
    return (row.host, int(row.gpu) if row.gpu.isdigit() else 1 << 30, row.gpu)


def sort_gpus(rows: Sequence[GpuRow]) -> list[GpuRow]:
    """Grouped by host, then by GPU index (numerically when it is a number)."""
    return sorted(rows, key=gpu_order)
