"""Task loading (both parameter forms, both model spellings, JSON and YAML), the grid's
order, the strategies, the SLO-penalised scores and the genai-bench result parsing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from servedeck.config.errors import ConfigError
from servedeck.tuner import metrics, scoring, strategies
from servedeck.tuner.bench_builtin import Scenario, stats
from servedeck.tuner.task import load_task, load_task_text

LEGACY_OME = {
    "task_name": "llama-3-2-1b-tune", "description": "legacy form",
    "model": {"name": "llama-3-2-1b-instruct", "namespace": "autotuner"},
    "base_runtime": "llama-3-2-1b-instruct-rt-unused" and "sglang",
    "parameters": {"tp_size": {"type": "choice", "values": [1]},
                   "mem_frac": {"type": "choice", "values": [0.8, 0.85]},
                   "max_total_tokens": {"type": "choice", "values": [4096]},
                   "schedule_policy": {"type": "choice", "values": ["lpm", "random", "fcfs"]}},
    "optimization": {"strategy": "grid_search", "objective": "minimize_latency", "max_iterations": 4,
                     "timeout_per_iteration": 600},
    "benchmark": {"task": "text-to-text", "model_name": "llama-3-2-1b-instruct",
                  "traffic_scenarios": ["D(100,100)"], "num_concurrency": [1], "max_time_per_iteration": 10,
                  "max_requests_per_iteration": 50},
}


def test_legacy_form_and_model_name(tmp_path: Path) -> None:
    path = tmp_path / "ome.json"
    path.write_text(json.dumps(LEGACY_OME, indent="\t"))  # tab-indented JSON, as some tools write it
    task = load_task(path)
    assert task.model.ident == "llama-3-2-1b-instruct"
    plan = strategies.make(task).plan
    assert len(plan) == 4  # 1 x 2 x 1 x 3 = 6, cut to max_iterations
    # itertools.product order: the last parameter varies fastest
    assert [p["schedule_policy"] for p in plan] == ["lpm", "random", "fcfs", "lpm"]
    assert [p["mem_frac"] for p in plan] == [0.8, 0.8, 0.8, 0.85]
    assert task.flag("mem_frac") == "mem-fraction-static" and task.flag("tp_size") == "tp-size"


def test_list_form_yaml_and_later_keys(tmp_path: Path) -> None:
    text = """
task_name: yaml-task
model: {id_or_path: m}
runtime_image_tag: v0.5.3-cu126
parameters:
  tp-size: [1, 2]
  mem-fraction-static: [0.7, 0.8, 0.9]
  enable-torch-compile: [true, false]
optimization: {strategy: bayesian, max_iterations: 5, n_initial_random: 2, seed: 3, study_name: s1}
slo:
  latency: {p90: {threshold: 2.0, weight: 1.0, hard_fail: true, fail_ratio: 0.3}}
  ttft: {threshold: 0.5}
  steepness: 0.2
storage: {type: pvc, pvc_name: models}
"""
    task = load_task_text(text, "task.yaml")
    assert task.optimization.kind == "bayesian" and task.slo.steepness == 0.2
    from servedeck.tuner.docker_deploy import flags, image_for
    from servedeck.tuner.settings import TunerSettings

    assert flags(task, {"tp-size": 2, "enable-torch-compile": True}) == ["--tp-size", "2", "--enable-torch-compile"]
    assert flags(task, {"enable-torch-compile": False}) == []
    assert image_for(TunerSettings(), task) == "lmsysorg/sglang:v0.5.3-cu126"


@pytest.mark.parametrize("text,where,fragment", [
    ('{"task_name": "t", "model": {"id_or_path": "m"},\n "parameters": {"tp-size": ["1; rm -rf /"]}}', (2, 17), "characters"),
    ('{"task_name": "t", "model": {"id_or_path": "m"},\n "parameters": {"x": ["$(touch /tmp/pwned)"]}}', (2, 17), "characters"),
    ('{"task_name": "t", "model": {"id_or_path": "m"},\n "parameters": {"a b": [1]}}', (2, 17), "flag name"),
    ('{"task_name": "bad name;", "model": {"id_or_path": "m"}, "parameters": {"x": [1]}}', (1, 2), "task_name"),
    ('{"task_name": "t", "model": {"id_or_path": "m"}, "parameters": {"x": [1]},\n "optimization": {"max_iterations": "2"}}', (2, 19), "max_iterations"),
    ('{"task_name": "t", "model": {"id_or_path": "m"}, "parameters": {"x": [[1, 2]]}}', (1, 65), "not list"),
    ('{"task_name": "t", "model": {"id_or_path": "m"}, "parameters": {"x": [1]},\n "benchmark": {"traffic_scenarios": ["D(1,2); ls"]}}', (2, 16), "traffic scenario"),
    ('{"task_name": "t", "model": {}, "parameters": {"x": [1]}}', (1, 20), "id_or_path"),
    ('{"task_name": "t", "model": {"id_or_path": "m"}, "parameters": {"x": [1]}, "optimisation": {}}', (1, 76), "unknown key"),
])
def test_bad_task_is_located(text: str, where: tuple[int, int], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_task_text(text, "bad.json")
    first = err.value.problems[0]
    assert str(first).startswith(f"bad.json:{where[0]}:{where[1]}:"), str(err.value)
    assert fragment in str(err.value)


def test_huge_grid_needs_a_cut() -> None:
    params = {f"p{i}": list(range(10)) for i in range(10)}  # 10^10 combinations
    text = json.dumps({"task_name": "huge", "model": {"id_or_path": "m"}, "parameters": params})
    with pytest.raises(ConfigError, match="combinations"):
        load_task_text(text, "huge.json")
    cut = json.dumps({"task_name": "huge", "model": {"id_or_path": "m"}, "parameters": {f"p{i}": [0, 1] for i in range(12)},
                      "optimization": {"max_iterations": 3}})
    assert len(strategies.make(load_task_text(cut, "cut.json")).plan) == 3


def test_random_is_seeded_and_never_repeats() -> None:
    doc = {"task_name": "r", "model": {"id_or_path": "m"}, "parameters": {"a": [1, 2, 3], "b": ["x", "y"]},
           "optimization": {"strategy": "random", "max_iterations": 5, "seed": 7}}
    one = strategies.make(load_task_text(json.dumps(doc), "r.json")).plan
    two = strategies.make(load_task_text(json.dumps(doc), "r.json")).plan
    assert one == two and len({strategies.key(p) for p in one}) == 5


def test_bayesian_resumes_from_history() -> None:
    doc = {"task_name": "b", "model": {"id_or_path": "m"}, "parameters": {"a": [1, 2, 3, 4], "b": [0.1, 0.2, 0.3]},
           "optimization": {"strategy": "bayesian", "max_iterations": 6, "n_initial_random": 2, "seed": 1}}
    task = load_task_text(json.dumps(doc), "b.json")
    first = strategies.make(task)
    history = []
    for _ in range(3):
        p = first.suggest(history)
        history.append(p)
        first.tell(p, float(p["a"]) + p["b"])
    rebuilt = strategies.make(task)  # as after a restart: told the finished trials again
    for p in history:
        rebuilt.tell(p, float(p["a"]) + p["b"])
    assert len(rebuilt.study.trials) == 3 and rebuilt.study.best_value == min(float(p["a"]) + p["b"] for p in history)
    nxt = rebuilt.suggest(history)
    assert strategies.key(nxt) not in {strategies.key(p) for p in history}


def test_scores_and_slo_penalty() -> None:
    from servedeck.tuner.task import SLO

    m = {"mean_e2e_latency": 2.0, "p50_e2e_latency": 1.9, "p90_e2e_latency": 2.5, "mean_ttft": 0.3,
         "mean_total_throughput": 500.0}
    assert scoring.score(m, "minimize_latency").value == 2.0
    assert scoring.score(m, "maximize_throughput").value == -500.0
    assert scoring.score({}, "minimize_ttft").value == math.inf
    slo = SLO.model_validate({"latency": {"p90": {"threshold": 2.0, "weight": 0.5}}, "steepness": 0.1})
    s = scoring.score(m, "minimize_latency", slo)
    ratio = (2.5 - 2.0) / 2.0
    assert s.value == pytest.approx(2.0 + 0.5 * math.exp(ratio / 0.1) * 2.0) and not s.slo_met
    hard = SLO.model_validate({"latency": {"p90": {"threshold": 2.0, "hard_fail": True, "fail_ratio": 0.2}}})
    assert scoring.score(m, "minimize_latency", hard).value == math.inf
    lenient = SLO.model_validate({"latency": {"p90": {"threshold": 2.0, "hard_fail": True, "fail_ratio": 0.3}}})
    assert math.isfinite(scoring.score(m, "minimize_latency", lenient).value)
    thr = scoring.score(m, "maximize_throughput", SLO.model_validate({"ttft": {"threshold": 0.2}}))
    assert thr.value == pytest.approx(-500.0 + math.exp(0.5 / 0.1) * 500.0)  # the penalty makes it worse


def _run_file(folder: Path, name: str, scenario: str, conc: int, e2e: float, completed: int, requests: int) -> None:
    agg = {"scenario": scenario, "num_concurrency": conc, "num_requests": requests, "num_completed_requests": completed,
           "num_error_requests": requests - completed, "mean_output_throughput_tokens_per_s": 100.0 * conc,
           "mean_total_tokens_throughput_tokens_per_s": 150.0 * conc,
           "stats": {"e2e_latency": {"mean": e2e, "p50": e2e, "p90": e2e * 1.5, "p99": e2e * 2},
                     "ttft": {"mean": e2e / 10, "p50": e2e / 10}, "tpot": {"mean": 0.01}}}
    (folder / name).write_text(json.dumps({"aggregated_metrics": agg}))


def test_metrics_read_every_scenario_kind(tmp_path: Path) -> None:
    _run_file(tmp_path, "D100_100_text-to-text_num_concurrency_1_time_3s.json", "D(100,100)", 1, 1.0, 10, 10)
    _run_file(tmp_path, "N480_240_300_150_text-to-text_num_concurrency_4_time_3s.json", "N(480,240)/(300,150)", 4, 2.0, 9, 10)
    _run_file(tmp_path, "U50_100_10_20_text-to-text_num_concurrency_2_time_3s.json", "U(50,100)/(10,20)", 2, 3.0, 10, 10)
    (tmp_path / "experiment_metadata.json").write_text("{}")
    (tmp_path / "debug_for_run_1.json").write_text("{}")
    found, files = metrics.read_folder(tmp_path)
    assert len(files) == 3 and found["num_result_files"] == 3
    assert found["mean_e2e_latency"] == pytest.approx(2.0) and found["max_e2e_latency"] == 3.0
    assert found["p90_e2e_latency"] == pytest.approx(3.0)
    assert found["success_rate"] == pytest.approx(29 / 30) and found["max_output_throughput"] == 400.0
    assert found["concurrency_levels"] == [1, 2, 4]


def test_scenarios_and_percentiles() -> None:
    import random

    rng = random.Random(0)
    assert Scenario("D(100,20)", rng).sample() == (100, 20) and Scenario("D(100,20)", rng).sanitized == "D100_20"
    lo_hi = [Scenario("U(5,10)/(1,3)", rng).sample() for _ in range(50)]
    assert all(5 <= a <= 10 and 1 <= b <= 3 for a, b in lo_hi)
    s = stats([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["mean"] == 3.0 and s["p50"] == 3.0 and s["p25"] == 2.0 and s["max"] == 5.0


def test_readonly_refuses_run_and_stop(tmp_path: Path) -> None:
    from servedeck.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("readonly: true\ntuner: {state_dir: " + str(tmp_path / "s") + "}\n")
    task = tmp_path / "t.json"
    task.write_text(json.dumps({"task_name": "t", "model": {"id_or_path": "m"}, "parameters": {"x": [1]}}))
    assert main(["tune", "run", str(task), "--config", str(cfg)]) == 3  # EXIT_REFUSED
    assert main(["--readonly", "tune", "stop"]) == 3
    assert not (tmp_path / "s").exists()
    assert main(["tune", "plan", str(task), "--config", str(cfg)]) == 0  # looking is fine


def test_pane_is_idle_not_down_before_any_tuning(tmp_path: Path) -> None:
    from servedeck.backends.tuner.backend import TunerBackend, TunerBackendSettings

    backend = TunerBackend(TunerBackendSettings(name="t", state_dir=str(tmp_path / "never-used")))
    assert backend.poll(frozenset({"experiments"})) == {"experiments": ()}
    assert not backend.perform("tuner.plot", None, "").ok


def test_a_tuner_killed_mid_run_is_down_with_its_last_rows(tmp_path: Path) -> None:
    """kill -9 leaves the state saying running: the pane says died (down), not running."""
    import subprocess
    import sys

    from servedeck.backends.base import Health
    from servedeck.backends.runner import BackendRunner
    from servedeck.backends.tuner.backend import TunerBackend, TunerBackendSettings
    from servedeck.tuner.state import Experiment, TunerState, TunerStore

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    state = TunerState(task_name="killed", strategy="grid_search", budget=2, pid=gone.pid,
                       experiments=[Experiment(id=1, parameters={"x": 1}, status="benchmarking")])
    TunerStore(state_dir / "killed.json").save(state)
    (state_dir / "current").write_text("killed")
    (state_dir / "tuner.sock").write_text("")  # a socket file left behind: nothing answers
    runner = BackendRunner(TunerBackend(TunerBackendSettings(name="t", state_dir=str(state_dir))))
    snap = runner.poll_once(frozenset({"experiments"}))
    assert snap.state.health is Health.DOWN and "died" in snap.state.message, snap.state
    header, exp = snap.panes["experiments"]
    assert header.phase == "died" and exp.phase == "benchmarking"

    state.status = "stopped"  # a tuner that stopped as asked: its last state, degraded
    TunerStore(state_dir / "killed.json").save(state)
    snap = runner.poll_once(frozenset({"experiments"}))
    assert snap.state.health is Health.DEGRADED and snap.panes["experiments"][0].phase == "stopped"
