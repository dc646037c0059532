"""Direct scrape: the gauge panes without a Prometheus, from exporters' /metrics pages.

A single host with dcgm-exporter, node_exporter and SGLang but no Prometheus still gets
its gauges: this backend (kind `scrape`) fetches each configured page once per refresh
(so requests per refresh = number of pages, whatever the number of GPUs), parses it with
prometheus_client's parser, and works out rates and histogram quantiles itself from the
difference with the previous scrape. An exporter that cannot be scraped is down: its
last rows stay on screen, stale and marked down, and the backend is degraded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit


from servedeck import bounded
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field, field_validator

from servedeck.backends.lazy import lazy
from servedeck.backends.base import ActionResult, Backend, BackendContext, BackendError, PartialPoll, Rows
from servedeck.backends.metrics.build import (
    E2E, HISTOGRAMS, ROUTER_REQUESTS, Sample, build_gpus, build_nodes, build_routers, build_serving,
    serving_by_host, tie_to_serving,
)
from servedeck.backends.metrics.history import PaneMemory
from servedeck.backends.metrics.panes import (
    GAUGE_KEYS, GAUGE_PANES, PLOT_ACTIONS, PLOT_PANE, GaugeSettings, PlotRequest, PlotSeries, row_title,
)
from servedeck.backends.metrics.queries import KEY_OF, VALUE_OF, sort_rows

httpx = lazy("httpx")  # loaded by the first poll, in its thread, not before the first frame


class ScrapeSettings(GaugeSettings):
    urls: list[str] = Field(description="Exporter pages to read, e.g. http://127.0.0.1:9400/metrics.")
    timeout: float = Field(default=3.0, gt=0, description="Seconds one page may take.")

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one exporter URL")
        for url in value:
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value


# node_exporter pages are ~100 kB, DCGM's a few hundred; far past that is not an exporter.
MAX_PAGE_BYTES = 32 * bounded.MIB


def instance_of(url: str) -> str:
    """The `instance` label Prometheus would give this page: host:port."""
    parts = urlsplit(url)
    return parts.netloc or url


@dataclass(frozen=True)
class Page:
    """One parsed scrape: instant samples and the counters to rate next time."""

    at: float
    samples: tuple[Sample, ...]


def parse_page(text: str, instance: str, at: float) -> Page:
    """Samples of a text-format page, each labelled with its `instance` as Prometheus would."""
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            out.append(Sample(s.name, {**s.labels, "instance": instance}, float(s.value)))
    return Page(at, tuple(out))


def rates(prev: Page | None, cur: Page, names: tuple[str, ...], group: tuple[str, ...] = ("instance",),
          where: Mapping[str, str] | None = None) -> dict[tuple, float]:
    """Per-second increase of the named counters between two scrapes, summed by `group`
    labels; a counter that went down (a restart) counts from zero, as PromQL's rate does."""
    if prev is None or cur.at <= prev.at:
        return {}
    dt = cur.at - prev.at
    before = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in prev.samples if s.name in names}
    out: dict[tuple, float] = {}
    for s in cur.samples:
        if s.name not in names or (where and any(s.labels.get(k) != v for k, v in where.items())):
            continue
        old = before.get((s.name, tuple(sorted(s.labels.items()))))
        if old is None:
            continue
        delta = s.value - old if s.value >= old else s.value
        key = tuple(s.labels.get(g, "") for g in group)
        out[key] = out.get(key, 0.0) + delta / dt
    return out


def cpu_busy(prev: Page | None, cur: Page) -> dict[str, float]:
    """CPU % by instance from node_cpu_seconds_total: 100 × (1 − idle share of all time)."""
    total = rates(prev, cur, ("node_cpu_seconds_total",))
    idle = rates(prev, cur, ("node_cpu_seconds_total",), where={"mode": "idle"})
    return {k[0]: max(0.0, min(100.0, 100.0 * (1 - idle.get(k, 0.0) / v))) for k, v in total.items() if v > 0}


class ScrapeBackend(Backend):
    kind = "scrape"
    settings_model = ScrapeSettings
    default_interval = 5.0
    panes = GAUGE_PANES
    actions = PLOT_ACTIONS

    settings: ScrapeSettings

    def __init__(self, settings: ScrapeSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self.client = httpx.Client(timeout=settings.timeout, follow_redirects=False)
        self.sent = 0  # HTTP requests made (benchmark, tests)
        self._pages: dict[str, Page] = {}  # url -> the last good scrape
        self._prev: dict[str, Page] = {}  # url -> the scrape before it (for rates)
        self.memory = {p: PaneMemory(KEY_OF[p], VALUE_OF[p], settings.history_points) for p in KEY_OF}

    def _fetch(self, url: str) -> str:
        self.sent += 1
        try:
            response = bounded.http_request(self.client, "GET", url, MAX_PAGE_BYTES, f"{url}: the page")
        except bounded.InputRejected as exc:
            raise BackendError(str(exc), reachable=True) from None
        except httpx.TimeoutException:
            raise BackendError(f"{url} did not answer within {self.settings.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise BackendError(f"{url} not reachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise BackendError(f"{url} answered HTTP {response.status_code}", reachable=True)
        return response.text

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        now = time.time()
        failed: dict[str, str] = {}
        for url in self.settings.urls:
            try:
                text = self._fetch(url)
                page = parse_page(text, instance_of(url), now) if wanted & GAUGE_KEYS else None
            except BackendError as exc:
                failed[url] = exc.message
                continue
            except ValueError as exc:  # not the text format
                failed[url] = f"{url} is not a Prometheus text page ({str(exc)[:60]})"
                continue
            if page is not None:
                if url in self._pages:
                    self._prev[url] = self._pages[url]
                self._pages[url] = page
        if len(failed) == len(self.settings.urls) and not (wanted & GAUGE_KEYS):
            raise BackendError(next(iter(failed.values())), hint="check the exporters run and scrape.urls")
        down = frozenset(instance_of(u) for u in failed)
        panes = {pane: tuple(sort_rows(pane, self._rows(pane, down, now))) for pane in wanted & GAUGE_KEYS}
        if failed:
            named = "; ".join(list(failed.values())[:3])
            raise PartialPoll(panes, f"{len(failed)} of {len(self.settings.urls)} exporters down: {named}",
                              hint="check those exporters run and are reachable")
        return panes

    def _rows(self, pane: str, down: frozenset[str], now: float) -> list:
        live = [u for u in self._pages if instance_of(u) not in down]
        samples = [s for u in live for s in self._pages[u].samples]
        if pane == "gpus":
            rows = tie_to_serving(build_gpus(samples, exporters_down=down, style=self.settings.gpu_style()),
                                  serving_by_host(samples))
        elif pane == "nodes":
            busy: dict[str, float] = {}
            for u in live:
                busy.update(cpu_busy(self._prev.get(u), self._pages[u]))
            rows = build_nodes(samples, busy)
        elif pane == "serving":
            rows = build_serving(samples, self._rate(live, (E2E + "_count",)), self._buckets(live))
        else:
            rows = build_routers(samples, self._rate(live, ROUTER_REQUESTS))
        return self.memory[pane].update(rows, now, down=lambda r: r.instance in down)

    def _rate(self, urls: list[str], names: tuple[str, ...]) -> dict[str, float]:
        out: dict[str, float] = {}
        for u in urls:
            out.update({k[0]: v for k, v in rates(self._prev.get(u), self._pages[u], names).items()})
        return out

    def _buckets(self, urls: list[str]) -> dict[str, dict[str, list[tuple[float, float]]]]:
        out: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for h in HISTOGRAMS:
            per: dict[str, list[tuple[float, float]]] = {}
            for u in urls:
                found = rates(self._prev.get(u), self._pages[u], (h + "_bucket",), group=("instance", "le"))
                for (inst, le), value in found.items():
                    try:
                        per.setdefault(inst, []).append((float(le), value))
                    except ValueError:
                        continue
            out[h] = per
        return out

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        pane = PLOT_PANE.get(action_id)
        if pane is None or row is None:
            return super().perform(action_id, row, value)
        plot = self.plot(pane, row, 900)
        if not plot.series[0].points:
            return ActionResult(False, "nothing scraped for this row yet")
        return ActionResult(True, plot.title, follow_up=plot)

    def plot(self, pane: str, row: Any, window_s: float) -> PlotRequest:
        """Direct scrape keeps no database: the plot is the sparkline's ring, in time."""
        values = self.memory[pane].history(KEY_OF[pane](row))
        now, step = time.time(), self.interval
        points = tuple((now - (len(values) - 1 - i) * step, v) for i, v in enumerate(values)
                       if (len(values) - 1 - i) * step <= window_s)
        name = {"gpus": "util %", "nodes": "cpu %", "serving": "tokens/s", "routers": "requests/s"}[pane]
        return PlotRequest(row_title(pane, row), (PlotSeries(name, points),), window_s,
                           fetch=lambda w: self.plot(pane, row, w),
                           note=f"direct scrape: only the last {len(values)} samples seen by this cockpit")

    def close(self) -> None:
        self.client.close()
