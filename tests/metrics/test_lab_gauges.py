"""On the whole lab: load sent through the real router visibly moves the gauges that the
lab's Prometheus scrapes from the stand-in workers, the stand-in DCGM exporter and the router."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from servedeck.backends.base import PartialPoll
from servedeck.backends.metrics.prometheus import PrometheusBackend, PrometheusSettings
from support import router_urls

pytestmark = pytest.mark.integration
PANES = frozenset({"gpus", "serving", "routers"})


def poll(backend):
    try:
        return backend.poll(PANES)
    except PartialPoll as exc:
        return exc.panes


def send_load(router_url: str, requests: int, stop: threading.Event) -> None:
    def one() -> None:
        while not stop.is_set():
            try:
                httpx.post(f"{router_url}/generate", timeout=30,
                           json={"text": "hello", "sampling_params": {"max_new_tokens": 40}})
            except httpx.HTTPError:
                return
    for _ in range(requests):
        threading.Thread(target=one, daemon=True).start()


def test_load_through_the_router_moves_gpu_serving_and_router_gauges(lab):
    backend = PrometheusBackend(PrometheusSettings(name="lab", url=lab.prometheus_url, rate_window="15s"))
    stop = threading.Event()
    send_load(lab.router_url, 12, stop)
    try:
        deadline = time.monotonic() + 60
        while True:
            panes = poll(backend)
            busy_gpus = [r for r in panes.get("gpus", ()) if (r.util_percent or 0) > 0]
            busy = [r for r in panes.get("serving", ()) if (r.running_reqs or 0) > 0 and r.ttft_p50_s]
            routers = [r for r in panes.get("routers", ()) if (r.request_rate or 0) > 0]
            if busy_gpus and busy and routers:
                break
            assert time.monotonic() < deadline, f"gauges did not move: {panes!r}"[:3000]
            time.sleep(1)
    finally:
        stop.set()
    assert routers[0].generation == "smg" and routers[0].workers_healthy == len(router_urls(lab))
    assert busy[0].gen_throughput and busy[0].gen_throughput > 0
    assert busy[0].tpot_p50_s and 0 < busy[0].tpot_p50_s < 1
    backend.close()
