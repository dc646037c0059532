"""The Prometheus backend's targets pane against the lab's real Prometheus."""

from __future__ import annotations

from functools import partial

import pytest

import ssh_support
from servedeck.backends.base import Health
from servedeck.backends.metrics.prometheus import PrometheusBackend, PrometheusSettings
from servedeck.backends.runner import BackendRunner

pytestmark = pytest.mark.integration

until = partial(ssh_support.until, tries=60, pause=0.5)  # up to 30 s


def test_prometheus_targets(lab):
    runner = BackendRunner(PrometheusBackend(PrometheusSettings(name="lab", url=lab.prometheus_url)))
    assert runner.poll_once(frozenset()).state.health is Health.OK

    node = lab.node_exporter_url.split("//")[-1].rstrip("/")

    def scraped():
        """every target scraped at least once, node_exporter up"""
        snap = runner.poll_once(frozenset({"targets"}))
        rows = snap.panes.get("targets", ())
        ready = rows and all(r.last_scrape_age_s is not None for r in rows)
        return snap if ready and any(r.instance == node and r.health == "up" for r in rows) else None

    snap = until(scraped)
    rows = snap.panes["targets"]
    assert all(r.prometheus == "lab" and r.job for r in rows)
    down = [r for r in rows if r.health == "down"]
    if down:  # the state says which are down
        assert snap.state.health is Health.DEGRADED and down[0].instance in snap.state.message
    else:
        assert snap.state.health is Health.OK

