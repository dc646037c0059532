"""The gauge panes from Prometheus: a fixed set of PromQL queries per pane and refresh.

Every query selects whole metric families (a `__name__` regex, or a `by (instance)`
aggregation), never one GPU or one instance, so the number of HTTP requests per refresh
is the same for 1 GPU and for 10,000. Histograms come back as bucket rates per instance
and are turned into quantiles by the same code the direct-scrape source uses.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from servedeck.backends.metrics.build import (
    HISTOGRAMS, NODE_GAUGES, ROUTER_GAUGES, ROUTER_REQUESTS, SERVING_GAUGES, GPU_FIELDS, Sample,
    build_gpus, build_nodes, build_routers, build_serving, gpu_id, serving_by_host, tie_to_serving,
)
from servedeck.backends.metrics.history import PaneMemory
from servedeck.backends.metrics.model import GpuRow, sort_gpus
from servedeck.backends.metrics.panes import PlotRequest, PlotSeries, GaugeSettings, row_title


def _names(names) -> str:
    return "|".join(names)


W = "{window}"
QUERIES = {
    "up": "up",
    # instances scraped without a failure over the whole rate window (and for that long):
    # a rate over a window with a gap or not yet filled is not a figure (n/a)
    "filled": "min by (instance) (min_over_time(up[%s])) and on (instance) (up offset %s)" % (W, W),
    "gpus": '{__name__=~"%s"}' % _names(GPU_FIELDS),
    "gpus_ts": "timestamp(DCGM_FI_DEV_GPU_UTIL)",
    "gpus_tie": '{__name__=~"sglang:num_running_reqs|node_uname_info"}',  # host matching
    "nodes": '{__name__=~"%s"}' % _names(NODE_GAUGES),
    "nodes_cpu": '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[%s])))' % W,
    "serving": '{__name__=~"%s"}' % _names(SERVING_GAUGES),
    "serving_rate": "sum by (instance) (rate(sglang:e2e_request_latency_seconds_count[%s]))" % W,
    **{f"hist {h}": "sum by (instance, le) (rate(%s_bucket[%s]))" % (h, W) for h in HISTOGRAMS},
    "routers": '{__name__=~"%s"}' % _names(ROUTER_GAUGES),
    "routers_rate": 'sum by (instance) (rate({__name__=~"%s"}[%s]))' % (_names(ROUTER_REQUESTS), W),
}
# what one series of each pane's sparkline is, as a range query, and how rows are keyed
HISTORY = {
    "gpus": ("DCGM_FI_DEV_GPU_UTIL", gpu_id),
    "nodes": (QUERIES["nodes_cpu"], lambda labels: labels.get("instance", "")),
    "serving": ("sglang:gen_throughput", lambda labels: labels.get("instance", "")),
    "routers": (QUERIES["routers_rate"], lambda labels: labels.get("instance", "")),
}
KEY_OF = {"gpus": lambda r: r.id, "nodes": lambda r: r.instance, "serving": lambda r: r.instance,
          "routers": lambda r: r.instance}
VALUE_OF = {"gpus": lambda r: r.util_percent, "nodes": lambda r: r.cpu_percent,
            "serving": lambda r: r.gen_throughput, "routers": lambda r: r.request_rate}

Query = Callable[[str], list[dict]]
RangeQuery = Callable[[str, float, float, float], list[dict]]  # query, start, end, step


def samples(result: list[dict]) -> list[Sample]:
    out = []
    for item in result:
        labels = item.get("metric") or {}
        try:
            value = float(item["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        out.append(Sample(labels.get("__name__", ""), labels, value))
    return out


def by_instance(result: list[dict]) -> dict[str, float]:
    return {s.labels.get("instance", ""): s.value for s in samples(result)}


class PromGauges:
    """The gauge panes of one Prometheus server (blocking; run in the poll thread)."""

    def __init__(self, settings: GaugeSettings, query: Query, query_range: RangeQuery,
                 interval: float, window: str = "1m"):
        self.settings, self.query, self.query_range = settings, query, query_range
        self.interval, self.window = interval, window
        self.memory = {p: PaneMemory(KEY_OF[p], VALUE_OF[p], settings.history_points) for p in HISTORY}
        self.filled: frozenset[str] = frozenset()  # instances whose rate window is filled (last poll)

    def q(self, name: str) -> list[dict]:
        return self.query(QUERIES[name].replace(W, self.window))

    def poll(self, wanted: frozenset[str], now: float | None = None) -> tuple[dict[str, tuple], list[str]]:
        """Rows of each wanted gauge pane and the problems to report (exporters down)."""
        now = time.time() if now is None else now
        wanted = frozenset(wanted) & set(HISTORY)
        if not wanted:
            return {}, []
        up = {s.labels.get("instance", ""): s.value for s in samples(self.q("up"))}
        down = frozenset(i for i, v in up.items() if v < 1)
        self.filled = frozenset(i for i, v in by_instance(self.q("filled")).items() if v >= 1)
        panes: dict[str, tuple] = {}
        problems: list[str] = []
        for pane in sorted(wanted):
            memory = self.memory[pane]
            if not memory.seeded:
                self._seed(pane, now)
            # A row of an exporter that is down is not fresh, whatever Prometheus still
            # computes over its old samples: the memory carries its last row, marked down.
            rows = [r for r in getattr(self, f"_{pane}")(down, now) if r.state != "ok" or r.instance not in down]
            kept = memory.update(rows, now, down=lambda r: r.instance in down)
            panes[pane] = tuple(sort_rows(pane, kept))
            bad = sorted({getattr(r, "instance", "") for r in kept if r.state == "down"} & down)
            if bad:
                problems.append(f"{pane}: exporter{'s' if len(bad) > 1 else ''} down: {', '.join(bad[:3])}")
            stale = sum(1 for r in kept if r.state == "stale")
            if stale:
                problems.append(f"{pane}: {stale} stale series")
        return panes, problems

    def stale_panes(self, panes: frozenset[str], now: float | None = None) -> dict[str, tuple]:
        """The last rows of these panes marked stale: the source could not be asked."""
        now = time.time() if now is None else now
        return {p: tuple(sort_rows(p, self.memory[p].mark_all(now, "stale"))) for p in panes if p in self.memory}

    def forget_seed(self, panes: frozenset[str]) -> None:
        """Panes that were hidden get their sparklines seeded again when reopened."""
        for pane, memory in self.memory.items():
            if pane not in panes:
                memory.seeded = False

    # -- one method per pane ---------------------------------------------------------
    def _gpus(self, down: frozenset[str], now: float) -> list[GpuRow]:
        gauges = samples(self.q("gpus"))
        ages = {gpu_id(s.labels): now - s.value for s in samples(self.q("gpus_ts"))}
        rows = build_gpus(gauges, ages=ages, stale_after=self.settings.stale_after_s,
                          exporters_down=down, style=self.settings.gpu_style())
        return tie_to_serving(rows, serving_by_host(samples(self.q("gpus_tie"))))

    def _nodes(self, down: frozenset[str], now: float):
        return build_nodes(samples(self.q("nodes")), self._rates("nodes_cpu"))

    def _serving(self, down: frozenset[str], now: float):
        buckets: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for h in HISTOGRAMS:
            per: dict[str, list[tuple[float, float]]] = {}
            for s in samples(self.q(f"hist {h}")):
                if s.labels.get("instance", "") not in self.filled:
                    continue
                try:
                    per.setdefault(s.labels.get("instance", ""), []).append((float(s.labels["le"]), s.value))
                except (KeyError, ValueError):
                    continue
            buckets[h] = per
        return build_serving(samples(self.q("serving")), self._rates("serving_rate"), buckets)

    def _routers(self, down: frozenset[str], now: float):
        return build_routers(samples(self.q("routers")), self._rates("routers_rate"))

    def _rates(self, name: str) -> dict[str, float]:
        """A rate query's values by instance, only where the window is filled."""
        return {i: v for i, v in by_instance(self.q(name)).items() if i in self.filled}

    # -- history ---------------------------------------------------------------------
    def _seed(self, pane: str, now: float) -> None:
        """One range query per pane seeds every sparkline of it."""
        expr, key_of = HISTORY[pane]
        span = self.interval * self.settings.history_points
        result = self.query_range(expr.replace(W, self.window), now - span, now, max(self.interval, 1.0))
        series = {}
        for item in result:
            values = [float(v) for _, v in item.get("values", ()) if _finite(v)]
            series[key_of(item.get("metric") or {})] = values
        self.memory[pane].seed(series)

    def plot(self, pane: str, row: Any, window_s: float) -> PlotRequest:
        """The plot of one row over `window_s`, from range queries (about 200 points)."""
        now = time.time()
        step = max(1.0, window_s / 200)
        series = []
        for name, expr in plot_queries(pane, row, self.window):
            points = []
            for item in self.query_range(expr, now - window_s, now, step):
                points = [(float(t), float(v)) for t, v in item.get("values", ()) if _finite(v)]
                break
            series.append(PlotSeries(name, tuple(points)))
        return PlotRequest(row_title(pane, row), tuple(series), window_s,
                           fetch=lambda w: self.plot(pane, row, w))


def plot_queries(pane: str, row: Any, window: str) -> list[tuple[str, str]]:
    """(series name, PromQL) of the plot of one row; label values are quoted for PromQL."""
    if pane == "gpus":
        sel = _selector({"UUID": row.uuid} if row.uuid else {"gpu": row.gpu, "instance": row.instance})
        return [("util %", f"DCGM_FI_DEV_GPU_UTIL{sel}"),
                ("memory %", f"100 * DCGM_FI_DEV_FB_USED{sel} / (DCGM_FI_DEV_FB_USED{sel} + DCGM_FI_DEV_FB_FREE{sel})"),
                ("temp °C", f"DCGM_FI_DEV_GPU_TEMP{sel}")]
    sel = _selector({"instance": row.instance})
    if pane == "nodes":
        idle = _selector({"instance": row.instance, "mode": "idle"})
        return [("cpu %", f"100 * (1 - avg(rate(node_cpu_seconds_total{idle}[{window}])))"),
                ("memory %", f"100 * (1 - node_memory_MemAvailable_bytes{sel} / node_memory_MemTotal_bytes{sel})")]
    if pane == "serving":
        return [("tokens/s", f"sglang:gen_throughput{sel}"), ("running", f"sglang:num_running_reqs{sel}"),
                ("queued", f"sglang:num_queue_reqs{sel}")]
    return [("requests/s", f'sum(rate({{__name__=~"{_names(ROUTER_REQUESTS)}",instance="{_quote(row.instance)}"}}[{window}]))')]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _selector(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_quote(v)}"' for k, v in labels.items()) + "}"


def _finite(v: Any) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return f == f and f not in (float("inf"), float("-inf"))


def sort_rows(pane: str, rows: list) -> list:
    if pane == "gpus":
        return sort_gpus(rows)
    return sorted(rows, key=lambda r: (getattr(r, "host", ""), r.instance))
