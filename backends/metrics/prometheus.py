"""Prometheus through prometheus-api-client: scrape targets and the gauge panes.

The targets pane tells an operator whether the fleet's metrics are arriving at all:
when some targets are down the backend is degraded and says which. The gauge panes
(GPUs, nodes, serving instances, router metrics) come from `metrics_queries`: a fixed
number of whole-family queries per refresh. `PrometheusConnect` is synchronous
(requests), which suits the runner's worker threads; its default retries are turned
off so a dead server costs one timeout, not several.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Mapping

from pydantic import Field

from servedeck.backends.base import (
    ActionResult,
    Backend,
    BackendContext,
    BackendError,
    Column,
    PaneSpec,
    PartialPoll,
    Rows,
)
from servedeck.backends.metrics.panes import GAUGE_KEYS, GAUGE_PANES, PLOT_ACTIONS, PLOT_PANE, GaugeSettings
from servedeck.backends.lazy import lazy
from servedeck.backends.metrics.queries import PromGauges
from servedeck.backends.rows import TargetRow

# The SDKs load in the first poll (a worker thread), not before the first frame.
requests = lazy("requests", "exceptions")
prometheus_api_client = lazy("prometheus_api_client")

_MAX_NAMED = 3  # how many down targets a message names before "and N more"


class PrometheusSettings(GaugeSettings):
    url: str = Field(default="http://127.0.0.1:9090", description="Prometheus base URL.")
    rate_window: str = Field(
        default="1m", pattern=r"^[0-9]+(ms|s|m|h|d)$",
        description="PromQL range of rates and histogram quantiles (at least 4 scrape intervals).")
    timeout: float = Field(default=5.0, gt=0, description="Seconds one query may take.")
    headers: dict[str, str] | None = Field(
        default=None, description="Extra HTTP headers (e.g. Authorization: \"Bearer ${PROM_TOKEN}\")."
    )


TARGETS = PaneSpec(
    key="targets",
    title="Scrape targets",
    columns=(
        Column("prometheus", "Prometheus", 10),
        Column("job", "Job", 16),
        Column("instance", "Instance", 24),
        Column("health", "Health", 7),
        Column("last_scrape_age_s", "Scraped", 8),
        Column("last_error", "Last error", 40),
    ),
    row_key="id",
    aliases=("ta", "target", "prom", "prometheus"),
    order=120,
)


class PrometheusBackend(Backend):
    kind = "prometheus"
    settings_model = PrometheusSettings
    default_interval = 10.0
    panes = (TARGETS, *GAUGE_PANES)
    actions = PLOT_ACTIONS

    settings: PrometheusSettings

    def __init__(self, settings: PrometheusSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self._prom = None
        self._session = None
        self.gauges = PromGauges(settings, self._query, self._query_range, self.interval, settings.rate_window)

    @property
    def session(self):
        """The requests session; its `sent` counts HTTP requests (benchmark, tests)."""
        if self._session is None:
            from servedeck.backends.metrics.session import CountingSession

            self._session = CountingSession()
        return self._session

    @property
    def prom(self):
        """The client (later issues run PromQL through it too)."""
        if self._prom is None:
            from urllib3.util.retry import Retry

            self.session.verify = True
            self._prom = prometheus_api_client.PrometheusConnect(
                url=self.settings.url.rstrip("/"),
                session=self.session,
                headers=dict(self.settings.headers or {}),
                retry=Retry(total=0),
                timeout=self.settings.timeout,
            )
        return self._prom

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        gauges = frozenset(wanted) & GAUGE_KEYS
        self.gauges.forget_seed(gauges)
        if "targets" not in wanted and not gauges:
            self._ready()
            return {}
        panes: dict[str, Rows] = {}
        problems: list[str] = []
        if "targets" in wanted:
            data = self._guard(lambda: self.prom.get_targets(state="active"))
            rows = targets_to_rows(data, self.name, time.time())
            panes["targets"] = rows
            down = [r for r in rows if r.health == "down"]
            if down:
                problems.append(down_message(down, len(rows)))
        if gauges:
            try:
                gauge_panes, gauge_problems = self.gauges.poll(gauges)
            except BackendError as exc:
                # Prometheus itself failed: offer the last rows marked stale with their age
                # (`panes` on the error; a runner that knows the attribute shows them).
                exc.panes = self.gauges.stale_panes(gauges)  # type: ignore[attr-defined]
                raise
            panes.update(gauge_panes)
            problems += gauge_problems
        if problems:
            raise PartialPoll(panes, "; ".join(problems),
                              hint="check those exporters run and are reachable from Prometheus")
        return panes

    def _query(self, expr: str) -> list[dict]:
        return self._guard(lambda: self.prom.custom_query(expr))

    def _query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        return self._guard(lambda: self.prom.custom_query_range(
            expr, start_time=datetime.fromtimestamp(start), end_time=datetime.fromtimestamp(end),
            step=f"{step:.3f}"))  # plain seconds: Prometheus durations take no fractions

    def perform(self, action_id: str, row, value: str | None = None) -> ActionResult:
        pane = PLOT_PANE.get(action_id)
        if pane is None or row is None:
            return super().perform(action_id, row, value)
        plot = self.gauges.plot(pane, row, 900)
        if not any(s.points for s in plot.series):
            return ActionResult(False, "Prometheus has no history for this row yet")
        return ActionResult(True, plot.title, follow_up=plot)

    def _ready(self) -> None:
        url = f"{self.prom.url}/-/ready"

        def get() -> requests.Response:
            return self.prom._session.get(url, headers=self.prom.headers, timeout=self.settings.timeout)

        response = self._guard(get)
        if response.status_code == 404:  # some proxies in front of Prometheus hide /-/ready
            self._guard(lambda: self.prom.check_prometheus_connection())
        elif response.status_code != 200:
            raise BackendError(
                f"Prometheus at {self.settings.url} is not ready (HTTP {response.status_code})",
                hint="it may still be replaying its WAL; see its log", reachable=True,
            )

    def _guard(self, fn):
        """Run one client call, mapping requests/client errors to BackendErrors."""
        url = self.settings.url
        try:
            return fn()
        except requests.exceptions.Timeout:
            raise BackendError(
                f"Prometheus at {url} did not answer within {self.settings.timeout:g}s",
                hint="check it is healthy, or raise backends.prometheus[].timeout",
            ) from None
        except requests.exceptions.ConnectionError:
            raise BackendError(
                f"Prometheus not reachable at {url}",
                hint="start Prometheus or set backends.prometheus[].url",
            ) from None
        except requests.exceptions.RequestException as exc:
            raise BackendError(f"Prometheus request to {url} failed: {type(exc).__name__}",
                               hint="check backends.prometheus[].url") from None
        except prometheus_api_client.PrometheusApiClientException as exc:
            status = str(exc).split("(")[0].strip()
            hint = "check headers (authorization)" if " 401" in status or " 403" in status else "check the url points at Prometheus"
            raise BackendError(f"Prometheus at {url} answered {status}", hint=hint, reachable=True) from None
        except ValueError:  # a 200 that is not JSON: not Prometheus
            raise BackendError(f"{url} did not answer like Prometheus",
                               hint="check backends.prometheus[].url", reachable=True) from None

    def close(self) -> None:
        prom, self._prom = self._prom, None
        if prom is not None:
            prom.close()


def targets_to_rows(data: Mapping[str, Any], name: str, now: float) -> tuple[TargetRow, ...]:
    """Rows from the `data` of /api/v1/targets (active targets only)."""
    rows = []
    targets = data.get("activeTargets") if isinstance(data, Mapping) else None
    for t in targets if isinstance(targets, list) else ():
        if not isinstance(t, dict):
            continue  # not a target: a hostile or broken answer skips it, never raises
        labels = _mapping(t.get("labels"))
        pool = str(t.get("scrapePool") or "")
        url = str(t.get("scrapeUrl") or "")
        rows.append(TargetRow(
            prometheus=name,
            id=f"{pool} {url}",
            job=str(labels.get("job") or pool),
            instance=str(labels.get("instance") or _mapping(t.get("discoveredLabels")).get("__address__", "")),
            health=str(t.get("health") or "unknown"),
            last_scrape_age_s=_age(t.get("lastScrape"), now),
            last_error=str(t.get("lastError") or ""),
            scrape_url=url,
        ))
    return tuple(sorted(rows, key=lambda r: (r.job, r.instance)))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def down_message(down: list[TargetRow], total: int) -> str:
    named = ", ".join(f"{r.job}/{r.instance}" for r in down[:_MAX_NAMED])
    more = f" and {len(down) - _MAX_NAMED} more" if len(down) > _MAX_NAMED else ""
    return f"{len(down)} of {total} targets down: {named}{more}"


def _age(stamp: Any, now: float) -> float | None:
    """Seconds since an RFC 3339 time; None for Prometheus's zero time (never scraped)."""
    if not isinstance(stamp, str) or stamp.startswith("0001-01-01"):
        return None
    text = stamp.replace("Z", "+00:00")
    if "." in text:  # Python 3.10 takes at most 6 fraction digits
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        return max(0.0, round(now - datetime.fromisoformat(text).timestamp(), 1))
    except (ValueError, OverflowError, OSError):
        return None
