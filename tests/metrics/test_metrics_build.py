"""Rows from exporter pages: what the stand-in DCGM exporter serves is what a row says;
router metrics of both generations; rates from two scrapes; requests per refresh."""

from __future__ import annotations

import pytest

from servedeck.backends.metrics.build import build_gpus, build_routers, serving_by_host, tie_to_serving
from servedeck.backends.metrics.panes import GaugeSettings, Threshold
from servedeck.backends.metrics.queries import PromGauges
from servedeck.backends.metrics.scrape import cpu_busy, parse_page, rates
from servedeck.lab.standin_dcgm import GpuFleet


def fleet_page(gpus: int = 2, util: float = 40.0, jobs=("17",)) -> str:
    fleet = GpuFleet(gpus, "gpu-host", [], idle_util=util, hpc_jobs=list(jobs))
    fleet.step()
    return fleet.render()


def page_value(text: str, name: str, gpu: str) -> float:
    page = parse_page(text, "x:9400", 0.0)
    return next(s.value for s in page.samples if s.name == name and s.labels["gpu"] == gpu)


def test_gpu_rows_carry_what_the_exporter_serves():
    text = fleet_page()
    rows = build_gpus(parse_page(text, "127.0.0.1:9400", 0.0).samples)
    assert [(r.host, r.gpu) for r in rows] == [("gpu-host", "0"), ("gpu-host", "1")]
    r = rows[0]
    assert r.util_percent == page_value(text, "DCGM_FI_DEV_GPU_UTIL", "0") == 40
    assert r.mem_used_mib == page_value(text, "DCGM_FI_DEV_FB_USED", "0")
    assert r.mem_total_mib == r.mem_used_mib + page_value(text, "DCGM_FI_DEV_FB_FREE", "0")
    assert r.temp_c == page_value(text, "DCGM_FI_DEV_GPU_TEMP", "0")
    assert r.power_w == page_value(text, "DCGM_FI_DEV_POWER_USAGE", "0")
    assert r.sm_clock_mhz == page_value(text, "DCGM_FI_DEV_SM_CLOCK", "0")
    assert r.uuid == "GPU-standin-gpu-host-0000" and "standin" in r.model
    assert (rows[0].used_by, rows[1].used_by) == ("job 17", "")
    assert r.instance == "127.0.0.1:9400" and not r.stale and r.state == "ok"


def test_newer_lowercase_hostname_label_gives_the_same_rows():
    text = fleet_page()
    upper = build_gpus(parse_page(text, "i:1", 0.0).samples)
    lower = build_gpus(parse_page(text.replace("Hostname=", "hostname="), "i:1", 0.0).samples)
    assert [(r.host, r.gpu, r.util_percent) for r in upper] == [(r.host, r.gpu, r.util_percent) for r in lower]


def test_sentinel_values_become_not_available():
    lines = fleet_page(gpus=1).splitlines()
    blanked = [ln.rsplit(" ", 1)[0] + " 9223372036854775794" if ln.startswith("DCGM_FI_DEV_GPU_TEMP{") else ln
               for ln in lines]
    (row,) = build_gpus(parse_page("\n".join(blanked) + "\n", "i:1", 0.0).samples)
    assert row.temp_c is None and row.util_percent == 40


def test_thresholds_and_colours_come_from_the_settings():
    settings = GaugeSettings(name="t", gpu_thresholds={"util": Threshold(warn=30, crit=90),
                                                       "temp_c": Threshold(warn=45, crit=48)},
                             colors={"ok": "blue", "warn": "magenta", "crit": "#ff0000"})
    (row,) = build_gpus(parse_page(fleet_page(gpus=1), "i:1", 0.0).samples, style=settings.gpu_style())
    assert row.level_of("util_percent") == "warn"
    assert row.level_of("temp_c") == "crit"  # 40 % of the way from 32 to 78 °C: 50 °C
    assert row.palette == ("blue", "magenta", "#ff0000")


SMG_PAGE = """\
# TYPE smg_worker_health gauge
smg_worker_health{worker="http://a:1"} 1
smg_worker_health{worker="http://b:1"} 0
# TYPE smg_worker_cb_state gauge
smg_worker_cb_state{worker="http://a:1"} 0
smg_worker_cb_state{worker="http://b:1"} 1
# TYPE smg_worker_pool_size gauge
smg_worker_pool_size{worker_type="regular",connection_mode="http",model="m"} 2
# TYPE smg_router_requests_total counter
smg_router_requests_total{router_type="http",endpoint="generate"} %d
"""
LEGACY_PAGE = """\
# TYPE sgl_router_active_workers gauge
sgl_router_active_workers 3
# TYPE sgl_router_worker_health gauge
sgl_router_worker_health{worker="http://a:1"} 1
sgl_router_worker_health{worker="http://b:1"} 1
sgl_router_worker_health{worker="http://c:1"} 1
# TYPE sgl_router_cb_state gauge
sgl_router_cb_state{worker="http://c:1"} 2
# TYPE sgl_router_requests_total counter
sgl_router_requests_total{route="/generate"} %d
"""


@pytest.mark.parametrize("template, generation, healthy, total, pool, open_", [
    (SMG_PAGE, "smg", 1, 2, 2, 1), (LEGACY_PAGE, "sgl_router", 3, 3, 3, 1)])
def test_router_rows_from_both_generations_of_names(template, generation, healthy, total, pool, open_):
    before, after = parse_page(template % 100, "r:29001", 10.0), parse_page(template % 130, "r:29001", 20.0)
    rate = {k[0]: v for k, v in rates(before, after, ("smg_router_requests_total", "sgl_router_requests_total")).items()}
    (row,) = build_routers(after.samples, rate)
    assert (row.generation, row.workers_healthy, row.workers_total, row.pool_size, row.breakers_open) == (
        generation, healthy, total, pool, open_)
    assert row.request_rate == pytest.approx(3.0)


def test_counter_reset_counts_from_zero_and_cpu_percent_from_two_scrapes():
    page = lambda t, idle, user: parse_page(  # noqa: E731
        "# TYPE node_cpu_seconds_total counter\n"
        f'node_cpu_seconds_total{{cpu="0",mode="idle"}} {idle}\nnode_cpu_seconds_total{{cpu="0",mode="user"}} {user}\n',
        "n:9100", t)
    assert cpu_busy(page(0, 100, 100), page(10, 107.5, 102.5)) == {"n:9100": pytest.approx(25.0)}
    reset = rates(page(0, 100, 100), page(10, 5, 5), ("node_cpu_seconds_total",))
    assert reset == {("n:9100",): pytest.approx(1.0)}  # restarted counters: 5 + 5 over 10 s


def _vector(text: str) -> list[dict]:
    return [{"metric": {"__name__": s.name, **s.labels}, "value": [0, repr(s.value)]}
            for s in parse_page(text, "127.0.0.1:9400", 0.0).samples]


@pytest.mark.parametrize("panes", [{"gpus"}, {"gpus", "nodes", "serving", "routers"}])
def test_queries_per_refresh_do_not_grow_with_the_number_of_gpus(panes):
    """One query per metric family: 1 GPU and 256 GPUs cost the same requests."""
    counts = []
    for gpus in (1, 256):
        vector = _vector(fleet_page(gpus=gpus))
        sent: list[str] = []

        def query(expr: str) -> list[dict]:
            sent.append(expr)
            return vector if "DCGM" in expr and not expr.startswith("timestamp") else []

        def query_range(expr, start, end, step):
            sent.append(expr)
            return []

        gauges = PromGauges(GaugeSettings(name="p"), query, query_range, interval=5.0)
        gauges.poll(frozenset(panes), now=1000.0)  # the first poll also seeds sparklines
        sent.clear()
        result, _ = gauges.poll(frozenset(panes), now=1005.0)
        assert len(result["gpus"]) == gpus
        counts.append(len(sent))
    assert counts[0] == counts[1] <= 3 + 2 * len(panes) + 3  # up, filled windows, then per pane


def test_gpus_are_tied_to_the_serving_instances_on_their_host():
    gpus = parse_page(fleet_page(gpus=2, jobs=("17",)), "10.0.0.5:9400", 0.0).samples
    node = parse_page('# TYPE node_uname_info gauge\nnode_uname_info{nodename="gpu-host"} 1\n', "10.0.0.5:9100", 0.0)
    one = parse_page('# TYPE sglang:num_running_reqs gauge\nsglang:num_running_reqs{model_name="m"} 1\n',
                     "10.0.0.5:30000", 0.0)
    other = parse_page('# TYPE sglang:num_running_reqs gauge\nsglang:num_running_reqs{model_name="m"} 1\n',
                       "10.0.0.9:30000", 0.0)  # another host: not ours
    rows = tie_to_serving(build_gpus(gpus), serving_by_host([*node.samples, *one.samples, *other.samples]))
    assert [r.used_by for r in rows] == ["job 17", "sglang 10.0.0.5:30000"]  # the job label wins
    two = parse_page('# TYPE sglang:num_running_reqs gauge\nsglang:num_running_reqs 0\n', "10.0.0.5:30001", 0.0)
    rows = tie_to_serving(build_gpus(gpus), serving_by_host([*node.samples, *one.samples, *two.samples]))
    assert rows[1].used_by == "sglang ×2 on host"
