"""What the gauge panes look like and how they are configured, for both data sources.

The Prometheus backend and the direct-scrape backend feed the same panes (`gpus`,
`nodes`, `serving`, `routers`) with the same columns, settings and plot action, so an
operator sees one cockpit whichever source a site has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from servedeck.backends.base import Action, BackendSettings, Column, PaneSpec
from servedeck.backends.metrics.build import GpuStyle


class Threshold(BaseModel):
    """A value at or above `warn` is drawn in the warning colour, at or above `crit` in the critical one."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    warn: float | None = Field(default=None, description="Warning level (none: never warns).")
    crit: float | None = Field(default=None, description="Critical level (none: never critical).")


class GaugeColors(BaseModel):
    """Colours (Rich colour names or #rrggbb) of gauges at each level."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    ok: str = "green"
    warn: str = "yellow"
    crit: str = "red"


ThresholdName = Literal["util", "mem_percent", "temp_c", "power_w"]
DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "util": Threshold(warn=90, crit=98),
    "mem_percent": Threshold(warn=90, crit=97),
    "temp_c": Threshold(warn=80, crit=88),
}


class GaugeSettings(BackendSettings):
    """Settings both gauge sources share."""

    gpu_thresholds: dict[ThresholdName, Threshold] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS),
        description="Warning and critical levels per GPU value: util, mem_percent, temp_c, power_w.",
    )
    colors: GaugeColors = Field(default_factory=GaugeColors, description="Gauge colours per level.")
    stale_after_s: float = Field(
        default=90.0, gt=0, description="A series whose last sample is older than this is stale "
        "(dcgm-exporter collects every 30 s by default).")
    history_points: int = Field(default=120, ge=2, le=10000, description="Sparkline length (samples).")

    def gpu_style(self) -> GpuStyle:
        return GpuStyle(
            thresholds={k: (t.warn, t.crit) for k, t in self.gpu_thresholds.items()},
            palette=(self.colors.ok, self.colors.warn, self.colors.crit),
        )


GPUS = PaneSpec(
    key="gpus", title="GPUs",
    columns=(
        Column("host", "Host", 14), Column("gpu", "GPU", 3), Column("util_percent", "Util", 14),
        Column("mem_percent", "Memory", 22), Column("temp_c", "Temp", 6), Column("power_w", "Power", 7),
        Column("sm_clock_mhz", "SM MHz", 6), Column("xid_errors", "XID", 4), Column("history", "Util history", 24),
        Column("used_by", "Used by", 22), Column("state", "State", 12),
    ),
    row_key="id",
    aliases=("gpu", "dcgm"),
    order=40,
)
NODES = PaneSpec(
    key="nodes", title="Nodes",
    columns=(
        Column("host", "Host", 16), Column("cpu_percent", "CPU", 14), Column("mem_percent", "Memory", 26),
        Column("load1", "Load1", 6), Column("history", "CPU history", 24), Column("instance", "Exporter", 22),
        Column("state", "State", 12),
    ),
    row_key="instance",
    aliases=("no", "node"),
    order=50,
)
SERVING = PaneSpec(
    key="serving", title="Serving instances",
    columns=(
        Column("instance", "Instance", 20), Column("model", "Model", 16), Column("running_reqs", "Run", 5),
        Column("queued_reqs", "Queue", 5), Column("gen_throughput", "Tok/s", 8), Column("token_usage", "KV", 12),
        Column("cache_hit_rate", "Hit", 5), Column("request_rate", "Req/s", 6),
        Column("ttft_p50_ms", "TTFT50", 7), Column("ttft_p99_ms", "TTFT99", 7),
        Column("tpot_p50_ms", "TPOT50", 7), Column("tpot_p99_ms", "TPOT99", 7), Column("e2e_p99_ms", "E2E99", 7),
        Column("history", "Tok/s history", 20), Column("state", "State", 12),
    ),
    row_key="instance",
    aliases=("sv", "sglang", "instances"),
    order=60,
)
ROUTERS = PaneSpec(
    key="routers", title="Router metrics",
    columns=(
        Column("instance", "Router", 22), Column("generation", "Names", 10), Column("workers_healthy", "Healthy", 7),
        Column("workers_total", "Workers", 7), Column("pool_size", "Pool", 5), Column("breakers_open", "CB open", 7),
        Column("request_rate", "Req/s", 7), Column("history", "Req/s history", 24), Column("state", "State", 12),
    ),
    row_key="instance",
    aliases=("rt", "routermetrics"),
    order=70,
)
GAUGE_PANES = (GPUS, NODES, SERVING, ROUTERS)
GAUGE_KEYS = frozenset(p.key for p in GAUGE_PANES)

PLOT_KEY = "g"  # "graph": free in every pane and globally
PLOT_ACTIONS = tuple(
    Action(f"{thing}.plot", "Plot over time", pane, mutating=False, key=PLOT_KEY)
    for thing, pane in (("gpu", "gpus"), ("node", "nodes"), ("instance", "serving"), ("router", "routers"))
)
PLOT_PANE = {a.id: a.pane for a in PLOT_ACTIONS}
PLOT_WINDOWS_S = (300, 900, 3600, 6 * 3600)  # 5m, 15m, 1h, 6h


@dataclass(frozen=True)
class PlotSeries:
    name: str
    points: tuple[tuple[float, float], ...]  # (epoch seconds, value), oldest first


@dataclass(frozen=True)
class PlotRequest:
    """Follow-up: show these series in a plot screen. `fetch(window_s)` (blocking, run it
    in a thread) returns the same plot over another window."""

    title: str
    series: tuple[PlotSeries, ...]
    window_s: float
    windows_s: tuple[float, ...] = PLOT_WINDOWS_S
    unit: str = ""
    fetch: Callable[[float], "PlotRequest"] | None = field(default=None, compare=False, repr=False)
    note: str = ""  # e.g. "direct scrape keeps only what it saw since start"


def row_title(pane: str, row: Any) -> str:
    if pane == "gpus":
        return f"GPU {row.gpu} on {row.host}" + (f" ({row.model})" if getattr(row, "model", "") else "")
    if pane == "nodes":
        return f"node {row.host}"
    if pane == "serving":
        return f"SGLang {row.instance}" + (f" ({row.model})" if row.model else "")
    return f"router {row.instance}"
