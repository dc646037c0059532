"""Node probes (the public sgorch's `orchestrator.node_probe`): a one-token chat
completion sent to each ready worker at the interval, so a worker whose /health is
green but cannot serve shows up. Results go to /metrics under sgorch's names and to
the status document (the Deployments pane's Probe column).

Probes run in a small thread pool off the reconcile pass: a hung worker costs at most
`timeout_s` of a pool thread, never a pass.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

import httpx

from servedeck import bounded
from servedeck.orchestrator.config import NodeProbeSettings
from servedeck.orchestrator.metrics import Metrics

MAX_ANSWER_BYTES = 1 * bounded.MIB


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_s: float
    detail: str
    at: float

    def as_dict(self) -> dict:
        return {"ok": self.ok, "latency_ms": round(self.latency_s * 1000, 1), "detail": self.detail, "at": self.at}


class NodeProber:
    def __init__(self, settings: NodeProbeSettings, metrics: Metrics, *, max_parallel: int = 8):
        self.settings = settings
        self.metrics = metrics
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="node-probe")
        self._client = httpx.Client(timeout=settings.timeout_s, follow_redirects=False)
        self._lock = threading.Lock()
        self._results: dict[tuple[str, str], ProbeResult] = {}  # (deployment, url) -> last result
        self._due: dict[tuple[str, str], float] = {}
        self._running: set[tuple[str, str]] = set()

    def tick(self, deployment: str, urls: Iterable[str], model: str, now: float | None = None) -> None:
        """Start the probes that are due for these ready workers; forget workers gone."""
        if not self.settings.enabled:
            return
        now = time.time() if now is None else now
        urls = set(urls)
        with self._lock:
            for key in [k for k in self._results if k[0] == deployment and k[1] not in urls]:
                self._results.pop(key, None)
                self._due.pop(key, None)
            for url in urls:
                key = (deployment, url)
                if key in self._running or self._due.get(key, 0) > now:
                    continue
                self._due[key] = now + self.settings.interval_s
                self._running.add(key)
                self._pool.submit(self._probe, key, model)

    def _probe(self, key: tuple[str, str], model: str) -> None:
        deployment, url = key
        started = time.perf_counter()
        ok, detail = False, ""
        try:
            body = {"model": self.settings.model or model or "default",
                    "messages": [{"role": "user", "content": self.settings.prompt}], "max_tokens": 1}
            response = bounded.http_request(self._client, "POST", url.rstrip("/") + "/v1/chat/completions",
                                            MAX_ANSWER_BYTES, "the probe's answer", json=body)
            if response.status_code != 200:
                detail = f"HTTP {response.status_code}"
            else:
                doc = bounded.loads_json(response.content, what="the probe's answer")
                ok = isinstance(doc, dict) and isinstance(doc.get("choices"), list) and bool(doc["choices"])
                detail = "" if ok else "no choices in the answer"
        except httpx.TimeoutException:
            detail = f"no answer within {self.settings.timeout_s:g}s"
        except httpx.HTTPError as exc:
            detail = f"not reachable ({type(exc).__name__})"
        except ValueError as exc:  # InputRejected: not JSON, too big, too deep
            detail = str(exc)[:120]
        latency = time.perf_counter() - started
        result = ProbeResult(ok, latency, detail, time.time())
        status = "success" if ok else "failure"
        self.metrics.node_probe_total.labels(deployment, url, status).inc()
        if ok:
            self.metrics.node_probe_latency.labels(deployment, url).observe(latency)
        self.metrics.node_probe_success.labels(deployment, url).set(1.0 if ok else 0.0)
        self.metrics.node_probe_timestamp.labels(deployment, url).set(result.at)
        with self._lock:
            self._running.discard(key)
            if key in self._due:  # not forgotten meanwhile
                self._results[key] = result

    def results(self, deployment: str) -> dict[str, ProbeResult]:
        with self._lock:
            return {url: r for (d, url), r in self._results.items() if d == deployment}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
