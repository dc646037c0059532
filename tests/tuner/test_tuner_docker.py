"""The tuner end to end on the real Docker Engine with the stand-in SGLang image:
containers named and removed, metrics files re-read and scores recomputed by the test,
SLO hard-fail, failing servers recorded with their log tail, --parallel on stand-in GPUs,
and hostile task files refused before anything runs."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest

from conftest import our_containers
from tuner_support import PREFIX, results_of, servedeck, state_of, write_config, write_task

pytestmark = pytest.mark.integration


def _recomputed_mean_e2e(folder: Path) -> float:
    """The objective from the raw per-request records, independently of the tuner's parser."""
    per_run = []
    for path in sorted(folder.glob("D*_text-to-text_num_concurrency_*.json")):
        doc = json.loads(path.read_text())
        ok = [r["e2e"] for r in doc["individual_request_metrics"] if r["ok"]]
        per_run.append(statistics.fmean(ok))
    assert per_run, f"no run files in {folder}"
    return statistics.fmean(per_run)


def test_two_experiment_grid_end_to_end(tmp_path: Path, tuner_docker, lab) -> None:
    cfg = write_config(tmp_path, lab.docker_url)
    task = write_task(tmp_path, "grid2", {"tp-size": [1], "mem-fraction-static": [0.6, 0.8]},
                      optimization={"max_iterations": 2}, benchmark={"num_concurrency": [4]})
    plan = servedeck("tune", "plan", str(task), "--json", "--config", str(cfg))
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)["experiments"]
    assert [e["container"] for e in planned] == [f"{PREFIX}-autotuner-grid2-exp1", f"{PREFIX}-autotuner-grid2-exp2"]
    assert planned[0]["flags"] == ["--tp-size", "1", "--mem-fraction-static", "0.6"]

    done = servedeck("tune", "run", str(task), "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    doc = results_of(tmp_path, "grid2")
    assert doc["benchmark_runner"] == "builtin" and doc["strategy"] == "grid_search"
    assert [r["status"] for r in doc["all_results"]] == ["success", "success"]
    scores = {}
    for r in doc["all_results"]:
        folder = tmp_path / "results" / "benchmark_results" / f"grid2-exp{r['experiment_id']}"
        mean = _recomputed_mean_e2e(folder)
        assert r["metrics"]["mean_e2e_latency"] == pytest.approx(mean, rel=1e-9)
        assert r["objective_score"] == pytest.approx(mean, rel=1e-9)  # minimize_latency, no SLO
        assert "ready to roll" in r["container_logs"] and r["container"].endswith(f"-exp{r['experiment_id']}")
        scores[r["experiment_id"]] = mean
    best_id = min(scores, key=scores.get)
    assert doc["best_result"]["experiment_id"] == best_id and doc["best_experiment"] == doc["best_result"]
    # mem-fraction-static 0.6 admits 2 requests at once: at concurrency 4 half of them queue
    assert scores[1] > scores[2] * 1.3
    rows = list(csv.DictReader((tmp_path / "results" / "grid2_results.csv").open()))
    assert [r["experiment_id"] for r in rows] == ["1", "2"] and rows[0]["mem-fraction-static"] == "0.6"
    assert our_containers(tuner_docker) == []
    status = servedeck("tune", "status", "--json", "--config", str(cfg))
    assert status.returncode == 0 and json.loads(status.stdout)["done"] == 2
    shown = servedeck("tune", "results", "--config", str(cfg))
    assert f"best: exp{best_id}" in shown.stdout


def test_slo_hard_fail_and_soft_penalty(tmp_path: Path, tuner_docker, lab) -> None:
    cfg = write_config(tmp_path, lab.docker_url)
    hard = write_task(tmp_path, "slohard", {"mem-fraction-static": [0.8]},
                      slo={"latency": {"p50": {"threshold": 0.01, "hard_fail": True, "fail_ratio": 0.2}}})
    assert servedeck("tune", "run", str(hard), "--config", str(cfg)).returncode == 0
    doc = results_of(tmp_path, "slohard")
    r = doc["all_results"][0]
    assert r["objective_score"] is None and r["slo_met"] is False and "SLO hard fail" in r["error"]
    assert doc["best_result"] is None  # a hard-failed experiment is never the best

    soft = write_task(tmp_path, "slosoft", {"mem-fraction-static": [0.8]},
                      slo={"latency": {"p50": {"threshold": 0.05, "weight": 0.5}}, "steepness": 5.0})
    assert servedeck("tune", "run", str(soft), "--config", str(cfg)).returncode == 0
    r = results_of(tmp_path, "slosoft")["all_results"][0]
    base, p50 = r["metrics"]["mean_e2e_latency"], r["metrics"]["p50_e2e_latency"]
    expected = base + 0.5 * math.exp(((p50 - 0.05) / 0.05) / 5.0) * abs(base)
    assert r["slo_met"] is False and r["objective_score"] == pytest.approx(expected)


def test_failing_servers_are_recorded_and_the_search_goes_on(tmp_path: Path, tuner_docker, lab) -> None:
    cfg = write_config(tmp_path, lab.docker_url)
    task = write_task(tmp_path, "failing", {"mem-fraction-static": [0.95, 0.8]})
    assert servedeck("tune", "run", str(task), "--config", str(cfg)).returncode == 0
    doc = results_of(tmp_path, "failing")
    first, second = doc["all_results"]
    assert first["status"] == "failed" and "exited" in first["error"]
    assert "OutOfMemoryError" in first["container_logs"] and first["objective_score"] is None
    assert second["status"] == "success" and doc["best_result"]["experiment_id"] == 2

    bad = write_task(tmp_path, "badflag", {"no-such-flag": [1]})
    assert servedeck("tune", "run", str(bad), "--config", str(cfg)).returncode == 0
    r = results_of(tmp_path, "badflag")["all_results"][0]
    assert r["status"] == "failed" and "unrecognized arguments: --no-such-flag 1" in r["container_logs"]
    assert our_containers(tuner_docker) == []


def test_parallel_experiments_share_the_gpus(tmp_path: Path, tuner_docker, lab) -> None:
    cfg = write_config(tmp_path, lab.docker_url, gpus=2)
    task = write_task(tmp_path, "par", {"tp-size": [1], "mem-fraction-static": [0.7, 0.75, 0.8], "schedule-policy": ["lpm"]},
                      benchmark={"max_requests_per_iteration": 12})
    done = servedeck("tune", "run", str(task), "--parallel", "2", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    exps = state_of(tmp_path, "par")["experiments"]
    assert [e["status"] for e in exps] == ["success"] * 3
    one, two = exps[0], exps[1]
    assert one["started_at"] < two["finished_at"] and two["started_at"] < one["finished_at"]  # they overlapped
    assert sorted(one["gpus"] + two["gpus"]) == [0, 1] and one["port"] != two["port"]
    big = write_task(tmp_path, "toobig", {"tp-size": [4]})
    assert servedeck("tune", "run", str(big), "--config", str(cfg)).returncode == 0
    r = results_of(tmp_path, "toobig")["all_results"][0]
    assert r["status"] == "failed" and "needs 4 GPUs" in r["error"]


@pytest.mark.parametrize("body,fragment", [
    ('{"task_name": "hostile", "model": {"id_or_path": "m"},\n "parameters": {"tp-size": ["1 && touch /tmp/PWNED148"]}}',
     ":2:17: parameters.tp-size"),
    ('{"task_name": "hostile", "model": {"id_or_path": "m"},\n "parameters": {"tp-size": [1], "x": "`id`"}}', ":2:33: parameters.x"),
    ('{"task_name": "hostile", "model": {"id_or_path": "m"},\n "parameters": ' +
     json.dumps({f"p{i}": list(range(20)) for i in range(8)}) + "}", "combinations"),
    ('{"task_name": "hostile", "model": {"id_or_path": "m"}, "parameters": {"tp-size": [1]},\n'
     ' "optimization": {"strategy": "grid_search", "timeout_per_iteration": "soon"}}', ":2:46: optimization.timeout_per_iteration"),
])
def test_hostile_task_files_run_nothing(tmp_path: Path, tuner_docker, lab, body: str, fragment: str) -> None:
    cfg = write_config(tmp_path, lab.docker_url)
    task = tmp_path / "hostile.json"
    task.write_text(body)
    done = servedeck("tune", "run", str(task), "--config", str(cfg))
    assert done.returncode == 2 and f"{task}" in done.stderr and fragment in done.stderr, done.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "results").exists()
    assert not Path("/tmp/PWNED148").exists() and our_containers(tuner_docker) == []
