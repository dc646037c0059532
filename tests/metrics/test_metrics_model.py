"""Value rules of the gauge panes: sentinels, label spellings, quantiles, thresholds."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from servedeck.backends.metrics.model import bucket_quantile, clean, gpu_host, gpu_owner, level
from servedeck.backends.metrics.scrape import parse_page


@pytest.mark.parametrize("raw", [9223372036854775794.0, 140737488355328.0, 2147483632.0, 2147483647.0,
                                 math.nan, math.inf])
def test_dcgm_blank_sentinels_read_as_not_available(raw):
    assert clean(raw) is None


@pytest.mark.parametrize("raw", [0.0, 63.0, 81559.0, 2147483631.0, -5.0])
def test_real_values_pass_through(raw):
    assert clean(raw) == raw


def test_both_hostname_spellings_and_the_instance_fallback():
    assert gpu_host({"Hostname": "gpu-a", "instance": "10.0.0.1:9400"}) == "gpu-a"
    assert gpu_host({"hostname": "gpu-b", "instance": "10.0.0.1:9400"}) == "gpu-b"
    assert gpu_host({"instance": "10.0.0.1:9400"}) == "10.0.0.1"
    assert gpu_host({"instance": "[fe80::1]:9400"}) == "[fe80::1]"


def test_job_mapping_labels_tie_a_gpu_to_its_user():
    assert gpu_owner({"hpc_job": "4711"}) == "job 4711"
    assert gpu_owner({"namespace": "llm", "pod": "sglang-0"}) == "pod llm/sglang-0"
    assert gpu_owner({"container": "worker"}) == "ctr worker"
    assert gpu_owner({"gpu": "0"}) == ""


def test_levels_follow_thresholds():
    assert level(50, 80, 95) == "ok"
    assert level(80, 80, 95) == "warn"
    assert level(99, 80, 95) == "crit"
    assert level(99, None, None) == "ok"
    assert level(None, 80, 95) == "ok"


def _histogram_page(observations: list[float]) -> list[tuple[float, float]]:
    """Buckets as prometheus_client itself exposes them after these observations."""
    reg = CollectorRegistry()
    h = Histogram("lat_seconds", "latency", buckets=(0.1, 0.25, 0.5, 1.0, 2.5), registry=reg)
    for v in observations:
        h.observe(v)
    page = parse_page(generate_latest(reg).decode(), "x:1", 0.0)
    return [(float(s.labels["le"]), s.value) for s in page.samples if s.name == "lat_seconds_bucket"]


def test_quantile_interpolates_inside_the_bucket_like_promql():
    buckets = _histogram_page([0.2] * 50 + [0.4] * 50)  # 50 in (0.1, 0.25], 50 in (0.25, 0.5]
    # rank 50 is the top of the (0.1, 0.25] bucket; rank 75 is halfway through (0.25, 0.5]
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.25)
    assert bucket_quantile(0.75, buckets) == pytest.approx(0.375)
    assert bucket_quantile(0.99, buckets) == pytest.approx(0.25 + 0.25 * 49 / 50)


def test_quantile_in_the_inf_bucket_is_the_highest_bound_and_empty_is_none():
    assert bucket_quantile(0.99, _histogram_page([10.0] * 10)) == pytest.approx(2.5)
    assert bucket_quantile(0.5, _histogram_page([])) is None
