"""Rows from samples: the one place that knows which metric feeds which column.

Both sources feed these builders the same inputs: instant samples (name, labels, value),
and the rates they worked out themselves (PromQL `rate()` for Prometheus, the difference
of two scrapes for direct scrape). So a GPU or an instance reads the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from servedeck.backends.metrics.model import (
    GpuRow, Labels, NodeRow, RouterRow, ServingRow, bucket_quantile, clean, gpu_host, gpu_owner,
    host_of, level, sort_gpus,
)


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Labels
    value: float


# -- GPUs (dcgm-exporter) ---------------------------------------------------------------

GPU_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "util_percent",
    "DCGM_FI_DEV_FB_USED": "mem_used_mib",
    "DCGM_FI_DEV_FB_FREE": "fb_free",
    "DCGM_FI_DEV_FB_RESERVED": "fb_reserved",
    "DCGM_FI_DEV_GPU_TEMP": "temp_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_SM_CLOCK": "sm_clock_mhz",
    "DCGM_FI_DEV_XID_ERRORS": "xid_errors",
}
# threshold name in the settings -> the GpuRow value it applies to
THRESHOLD_FIELDS = {"util": "util_percent", "mem_percent": "mem_percent", "temp_c": "temp_c", "power_w": "power_w"}


def gpu_id(labels: Labels) -> str:
    return f"{gpu_host(labels)}/{labels.get('gpu', labels.get('device', '?'))}"


@dataclass
class _Gpu:
    labels: Labels
    values: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuStyle:
    """How rows are judged: thresholds per value and the colours of ok/warn/crit."""

    thresholds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    palette: tuple[str, str, str] = ("green", "yellow", "red")


def build_gpus(samples: Iterable[Sample], *, ages: Mapping[str, float] | None = None,
               stale_after: float = float("inf"), exporters_down: frozenset[str] = frozenset(),
               style: GpuStyle = GpuStyle()) -> list[GpuRow]:
    """One row per GPU. `ages` (seconds since each GPU's last sample, by gpu id) marks
    series that stopped updating as stale; `exporters_down` lists instances whose `up` is 0."""
    gpus: dict[str, _Gpu] = {}
    for s in samples:
        column = GPU_FIELDS.get(s.name)
        if column is None:
            continue
        gpu = gpus.setdefault(gpu_id(s.labels), _Gpu(s.labels))
        gpu.values[column] = clean(s.value)
    rows = []
    for key, gpu in gpus.items():
        v, labels = gpu.values, gpu.labels
        used, free = v.get("mem_used_mib"), v.get("fb_free")
        total = used + free + (v.get("fb_reserved") or 0.0) if used is not None and free is not None else None
        age = (ages or {}).get(key)
        instance = labels.get("instance", "")
        stale = age is not None and age > stale_after
        row = GpuRow(
            host=gpu_host(labels), gpu=str(labels.get("gpu", "?")), uuid=labels.get("UUID", labels.get("uuid", "")),
            model=labels.get("modelName", labels.get("model_name", "")),
            util_percent=v.get("util_percent"), mem_used_mib=used, mem_total_mib=total,
            temp_c=v.get("temp_c"), power_w=v.get("power_w"), stale=stale, id=key,
            sm_clock_mhz=v.get("sm_clock_mhz"), xid_errors=v.get("xid_errors"), used_by=gpu_owner(labels),
            state="down" if instance in exporters_down else ("stale" if stale else "ok"),
            age_s=round(age, 1) if stale and age is not None else None, instance=instance,
            palette=style.palette,
        )
        rows.append(with_levels(row, style))
    return sort_gpus(rows)


def with_levels(row: GpuRow, style: GpuStyle) -> GpuRow:
    levels = tuple(
        (fld, level(getattr(row, fld), *style.thresholds[name]))
        for name, fld in THRESHOLD_FIELDS.items() if name in style.thresholds
    )
    return replace(row, levels=levels)


def serving_by_host(samples: Iterable[Sample]) -> dict[str, list[str]]:
    """SGLang instances by host, each under its address and under the node name that
    node_exporter's `node_uname_info` gives that address (DCGM names hosts by name)."""
    names: dict[str, str] = {}
    instances: set[str] = set()
    for s in samples:
        if s.name == "node_uname_info" and s.labels.get("nodename"):
            names[host_of(s.labels.get("instance", ""))] = s.labels["nodename"]
        elif s.name == "sglang:num_running_reqs":
            instances.add(s.labels.get("instance", ""))
    out: dict[str, list[str]] = {}
    for inst in sorted(instances):
        for host in {host_of(inst), names.get(host_of(inst), "")} - {""}:
            out.setdefault(host, []).append(inst)
    return out


def tie_to_serving(rows: list[GpuRow], serving_hosts: Mapping[str, list[str]]) -> list[GpuRow]:
    """GPUs the exporter does not tie to a job or pod: host matching with the SGLang
    instances running there (one instance: that one; several: how many)."""
    out = []
    for r in rows:
        instances = serving_hosts.get(r.host, [])
        if not r.used_by and instances:
            who = f"sglang {instances[0]}" if len(instances) == 1 else f"sglang ×{len(instances)} on host"
            r = replace(r, used_by=who)
        out.append(r)
    return out


# -- nodes (node_exporter) --------------------------------------------------------------

NODE_GAUGES = ("node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes", "node_load1", "node_uname_info")


def build_nodes(samples: Iterable[Sample], cpu_busy: Mapping[str, float]) -> list[NodeRow]:
    """One row per node_exporter instance; `cpu_busy` is CPU % by instance."""
    by_instance: dict[str, dict[str, float | None]] = {}
    names: dict[str, str] = {}
    for s in samples:
        if s.name not in NODE_GAUGES:
            continue
        inst = s.labels.get("instance", "")
        if s.name == "node_uname_info":
            names[inst] = s.labels.get("nodename", "")
            continue
        by_instance.setdefault(inst, {})[s.name] = clean(s.value)
    for inst in cpu_busy:
        by_instance.setdefault(inst, {})
    rows = []
    for inst, v in by_instance.items():
        total, avail = v.get("node_memory_MemTotal_bytes"), v.get("node_memory_MemAvailable_bytes")
        rows.append(NodeRow(
            host=names.get(inst) or host_of(inst), cpu_percent=_round(cpu_busy.get(inst), 1),
            mem_used_bytes=total - avail if total is not None and avail is not None else None,
            mem_total_bytes=total, load1=v.get("node_load1"), instance=inst,
        ))
    return sorted(rows, key=lambda r: (r.host, r.instance))


# -- serving instances (SGLang) ---------------------------------------------------------

SERVING_GAUGES = {
    "sglang:num_running_reqs": "running_reqs",
    "sglang:num_queue_reqs": "queued_reqs",
    "sglang:gen_throughput": "gen_throughput",
    "sglang:token_usage": "token_usage",
    "sglang:cache_hit_rate": "cache_hit_rate",
}
TTFT = "sglang:time_to_first_token_seconds"
TPOT = "sglang:time_per_output_token_seconds"
E2E = "sglang:e2e_request_latency_seconds"
HISTOGRAMS = (TTFT, TPOT, E2E)
REQUEST_COUNTER = E2E + "_count"  # one observation per finished request

Buckets = Mapping[str, Mapping[str, list[tuple[float, float]]]]  # family -> instance -> (le, rate)


def build_serving(samples: Iterable[Sample], request_rate: Mapping[str, float], buckets: Buckets) -> list[ServingRow]:
    """One row per SGLang instance; quantiles come from bucket rates over the window."""
    values: dict[str, dict[str, float | None]] = {}
    models: dict[str, str] = {}
    for s in samples:
        column = SERVING_GAUGES.get(s.name)
        if column is None:
            continue
        inst = s.labels.get("instance", "")
        values.setdefault(inst, {})[column] = clean(s.value)
        models.setdefault(inst, s.labels.get("model_name", ""))

    def q(family: str, inst: str, quantile: float) -> float | None:
        found = buckets.get(family, {}).get(inst)
        return bucket_quantile(quantile, found) if found else None

    rows = []
    for inst, v in values.items():
        rows.append(ServingRow(
            instance=inst, model=models.get(inst, ""),
            running_reqs=v.get("running_reqs"), queued_reqs=v.get("queued_reqs"),
            gen_throughput=_round(v.get("gen_throughput"), 2), token_usage=v.get("token_usage"),
            ttft_p50_s=q(TTFT, inst, 0.5), ttft_p99_s=q(TTFT, inst, 0.99),
            tpot_p50_s=q(TPOT, inst, 0.5), tpot_p99_s=q(TPOT, inst, 0.99), e2e_p99_s=q(E2E, inst, 0.99),
            cache_hit_rate=v.get("cache_hit_rate"), request_rate=_round(request_rate.get(inst), 3),
        ))
    return sorted(rows, key=lambda r: r.instance)


# -- routers (sglang-router, both generations) ------------------------------------------

ROUTER_GAUGES = (
    "smg_worker_health", "smg_worker_pool_size", "smg_worker_cb_state",
    "sgl_router_worker_health", "sgl_router_active_workers", "sgl_router_cb_state",
)
ROUTER_REQUESTS = ("smg_router_requests_total", "sgl_router_requests_total")


def build_routers(samples: Iterable[Sample], request_rate: Mapping[str, float]) -> list[RouterRow]:
    """One row per router metrics endpoint, whichever generation of names it exports."""
    seen: dict[str, dict] = {}
    for s in samples:
        if s.name not in ROUTER_GAUGES:
            continue
        inst = s.labels.get("instance", "")
        r = seen.setdefault(inst, {"gen": s.name.split("_")[0], "health": {}, "cb": {}, "pool": None})
        if s.name.startswith("sgl_router"):
            r["gen"] = "sgl_router"
        worker = s.labels.get("worker", "")
        value = clean(s.value)
        if s.name.endswith("worker_health"):
            r["health"][worker] = value
        elif s.name.endswith("cb_state"):
            r["cb"][worker] = value
        elif value is not None:  # pool size / active workers (per model: summed)
            r["pool"] = (r["pool"] or 0.0) + value
    rows = []
    for inst, r in seen.items():
        health = [v for v in r["health"].values() if v is not None]
        cb = [v for v in r["cb"].values() if v is not None]
        rows.append(RouterRow(
            instance=inst, generation=r["gen"], workers_healthy=sum(1 for v in health if v >= 1) if health else None,
            workers_total=len(r["health"]) if r["health"] else None, pool_size=r["pool"],
            breakers_open=sum(1 for v in cb if v != 0) if cb else None,
            request_rate=_round(request_rate.get(inst), 3),
        ))
    return sorted(rows, key=lambda r: r.instance)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
