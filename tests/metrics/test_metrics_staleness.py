"""Series that stop updating: stale with their age, down when their exporter is down,
forgotten after a while; sparklines are bounded and extended each poll."""

from __future__ import annotations

from servedeck.backends.metrics.history import PaneMemory
from servedeck.backends.metrics.panes import GaugeSettings
from servedeck.backends.metrics.queries import PromGauges
from servedeck.backends.metrics.scrape import parse_page
from servedeck.lab.standin_dcgm import GpuFleet


def vector(gpus: int, stamp: float | None = None) -> list[dict]:
    fleet = GpuFleet(gpus, "h", [], idle_util=30)
    fleet.step()
    return [{"metric": {"__name__": s.name, **s.labels},
             "value": [0, repr(stamp if stamp is not None else s.value)]}
            for s in parse_page(fleet.render(), "h:9400", 0.0).samples]


def gauges_over(results: dict) -> PromGauges:
    """PromGauges over canned query answers: results[key] by what the query asks for."""
    def query(expr: str) -> list[dict]:
        if expr.startswith("timestamp("):
            return results.get("ts", [])
        if "DCGM" in expr:
            return results.get("gpus", [])
        if expr == "up":
            return results.get("up", [])
        return []
    return PromGauges(GaugeSettings(name="p", stale_after_s=60, history_points=3), query,
                      lambda *a: [], interval=5.0)


def test_gpu_whose_samples_are_old_is_stale_with_its_age():
    now = 10_000.0
    results = {"gpus": vector(2), "ts": [v for v in vector(2, stamp=now - 300) if v["metric"]["__name__"] ==
                                         "DCGM_FI_DEV_GPU_UTIL"]}
    panes, problems = gauges_over(results).poll(frozenset({"gpus"}), now=now)
    assert [(r.stale, r.state, r.age_s) for r in panes["gpus"]] == [(True, "stale", 300.0)] * 2
    assert problems == ["gpus: 2 stale series"]
    results["ts"] = [v for v in vector(2, stamp=now - 5) if v["metric"]["__name__"] == "DCGM_FI_DEV_GPU_UTIL"]
    panes, problems = gauges_over(results).poll(frozenset({"gpus"}), now=now)
    assert [r.state for r in panes["gpus"]] == ["ok", "ok"] and problems == []


def test_vanished_gpu_is_carried_stale_then_down_when_its_exporter_is_down():
    results = {"gpus": vector(2), "up": [{"metric": {"instance": "h:9400"}, "value": [0, "1"]}]}
    gauges = gauges_over(results)
    gauges.poll(frozenset({"gpus"}), now=100.0)
    results["gpus"] = [v for v in vector(2) if v["metric"]["gpu"] == "0"]  # GPU 1 fell off
    panes, problems = gauges.poll(frozenset({"gpus"}), now=110.0)
    assert [(r.gpu, r.state, r.stale, r.age_s) for r in panes["gpus"]] == [("0", "ok", False, None),
                                                                          ("1", "stale", True, 10.0)]
    assert panes["gpus"][1].util_percent == 30  # its last value
    results["gpus"], results["up"] = [], [{"metric": {"instance": "h:9400"}, "value": [0, "0"]}]
    panes, problems = gauges.poll(frozenset({"gpus"}), now=120.0)
    assert [r.state for r in panes["gpus"]] == ["down", "down"]
    assert problems == ["gpus: exporter down: h:9400"]


def test_memory_rings_are_bounded_and_forgotten_rows_go():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Row:
        id: str
        value: float
        stale: bool = False
        state: str = "ok"
        age_s: float | None = None
        history: tuple = ()

    memory = PaneMemory(lambda r: r.id, lambda r: r.value, points=3, forget_after=60)
    memory.seed({"a": [1.0, 2.0, 3.0, 4.0]})
    (row,) = memory.update([Row("a", 5.0)], now=0.0)
    assert row.history == (3.0, 4.0, 5.0)
    assert memory.update([], now=30.0)[0].state == "stale"
    assert memory.update([], now=61.0) == []


def test_when_prometheus_cannot_be_asked_the_last_rows_are_offered_stale():
    results = {"gpus": vector(2)}
    gauges = gauges_over(results)
    gauges.poll(frozenset({"gpus"}), now=100.0)
    stale = gauges.stale_panes(frozenset({"gpus"}), now=130.0)
    assert [(r.state, r.stale, r.age_s, r.util_percent) for r in stale["gpus"]] == [("stale", True, 30.0, 30)] * 2
