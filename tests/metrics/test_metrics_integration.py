"""The gauge panes against a real Prometheus, node_exporter and the stand-in DCGM exporter:
values shown are the exporters' values; exporters and Prometheus that stop show so and
recover by themselves; direct-scrape mode without Prometheus."""

from __future__ import annotations

import time
import urllib.request

import pytest

from servedeck.backends.base import BackendError, Health, PartialPoll
from servedeck.backends.metrics.scrape import ScrapeBackend, ScrapeSettings, parse_page
from servedeck.backends.metrics.prometheus import PrometheusBackend, PrometheusSettings
from servedeck.backends.runner import BackendRunner

from .conftest import DCGM_PORT, IDLE_UTIL

pytestmark = pytest.mark.integration
GAUGES = frozenset({"gpus", "nodes"})


def page(url: str):
    with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - 127.0.0.1
        return parse_page(resp.read().decode(), "", 0.0).samples


def poll(backend, wanted=GAUGES):
    """(panes, problem message or "") of one poll."""
    try:
        return backend.poll(wanted), ""
    except PartialPoll as exc:
        return exc.panes, exc.message


def poll_until(backend, check, timeout: float = 30.0, wanted=GAUGES):
    deadline = time.monotonic() + timeout
    while True:
        panes, problem = poll(backend, wanted)
        if check(panes, problem):
            return panes, problem
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached; last problem {problem!r}, panes {panes!r}"[:2000])
        time.sleep(0.5)


def assert_rows_match_pages(panes, stack) -> None:
    dcgm = {(s.name, s.labels["gpu"]): s.value for s in page(stack.dcgm_url)}
    gpus = panes["gpus"]
    assert [(r.host, r.gpu) for r in gpus] == [("metrics-test-host", "0"), ("metrics-test-host", "1")]
    for r in gpus:
        assert r.util_percent == dcgm[("DCGM_FI_DEV_GPU_UTIL", r.gpu)] == IDLE_UTIL
        assert r.mem_used_mib == dcgm[("DCGM_FI_DEV_FB_USED", r.gpu)]
        assert r.mem_total_mib == r.mem_used_mib + dcgm[("DCGM_FI_DEV_FB_FREE", r.gpu)]
        assert r.temp_c == dcgm[("DCGM_FI_DEV_GPU_TEMP", r.gpu)]
        assert r.power_w == dcgm[("DCGM_FI_DEV_POWER_USAGE", r.gpu)]
        assert r.sm_clock_mhz == dcgm[("DCGM_FI_DEV_SM_CLOCK", r.gpu)]
        assert r.state == "ok" and not r.stale
    assert [r.used_by for r in gpus] == ["job 4711", ""]
    node_page = page(stack.node_url)
    (node,) = panes["nodes"]
    assert node.mem_total_bytes == next(s.value for s in node_page if s.name == "node_memory_MemTotal_bytes")
    assert node.host == next(s.labels["nodename"] for s in node_page if s.name == "node_uname_info")
    assert node.cpu_percent is not None and 0 <= node.cpu_percent <= 100


def test_prometheus_rows_equal_what_the_exporters_serve(stack):
    backend = PrometheusBackend(PrometheusSettings(name="p", url=stack.prometheus_url, interval=1, rate_window="10s"))
    panes, problem = poll_until(backend, lambda p, _: len(p.get("gpus", ())) == 2 and p["nodes"]
                                and p["nodes"][0].cpu_percent is not None)
    assert problem == ""
    assert_rows_match_pages(panes, stack)
    panes, _ = poll(backend)
    assert len(panes["gpus"][0].history) >= 2  # seeded from the range query, then extended
    backend.close()


def test_exporter_stopped_shows_last_values_stale_then_down_and_recovers(stack):
    backend = PrometheusBackend(PrometheusSettings(name="p", url=stack.prometheus_url, interval=1, rate_window="10s"))
    poll_until(backend, lambda p, prob: len(p.get("gpus", ())) == 2 and not prob)
    stack.stop("dcgm")
    try:
        panes, problem = poll_until(backend, lambda p, prob: all(r.state == "down" for r in p["gpus"]))
        assert "exporter down" in problem and f"127.0.0.1:{DCGM_PORT}" in problem
        for r in panes["gpus"]:
            assert r.stale and r.util_percent == IDLE_UTIL and r.age_s is not None
    finally:
        stack.start("dcgm")
    poll_until(backend, lambda p, prob: not prob and all(r.state == "ok" for r in p["gpus"]))
    backend.close()


def test_prometheus_stopped_then_restarted_recovers(stack):
    runner = BackendRunner(PrometheusBackend(PrometheusSettings(name="p", url=stack.prometheus_url, interval=1, rate_window="10s")))
    snap = runner.poll_once(GAUGES)
    assert snap.state.health in (Health.OK, Health.DEGRADED) and snap.panes["gpus"]
    stack.stop("prometheus")
    try:
        snap = runner.poll_once(GAUGES)
        assert snap.state.health is Health.DOWN and "not reachable" in snap.state.message
        assert len(snap.panes["gpus"]) == 2  # the runner keeps the last data
        with pytest.raises(BackendError) as down:
            runner.backend.poll(GAUGES)
        assert [(r.state, r.stale, r.util_percent) for r in down.value.panes["gpus"]] == [
            ("stale", True, IDLE_UTIL)] * 2  # offered to the runner: last values, marked stale
    finally:
        stack.start("prometheus")
    deadline = time.monotonic() + 30
    while (snap := runner.poll_once(GAUGES)).state.health is not Health.OK:
        assert time.monotonic() < deadline, snap.state.message
        time.sleep(0.5)
    assert [r.state for r in snap.panes["gpus"]] == ["ok", "ok"]
    runner.close()


def test_direct_scrape_reads_exporters_without_prometheus(stack):
    backend = ScrapeBackend(ScrapeSettings(name="s", urls=[stack.dcgm_url, stack.node_url], interval=1))
    panes, problem = poll_until(backend, lambda p, _: p["nodes"] and p["nodes"][0].cpu_percent is not None)
    assert problem == ""
    before = backend.sent
    assert_rows_match_pages(panes, stack)
    stack.stop("dcgm")
    try:
        panes, problem = poll(backend)
        assert backend.sent - before == 2  # one request per exporter page, whatever it serves
        assert "1 of 2 exporters down" in problem
        assert all(r.state == "down" and r.stale and r.util_percent == IDLE_UTIL for r in panes["gpus"])
        assert panes["nodes"][0].state == "ok"
    finally:
        stack.start("dcgm")
    panes, problem = poll(backend)
    assert problem == "" and [r.state for r in panes["gpus"]] == ["ok", "ok"]
    backend.close()
