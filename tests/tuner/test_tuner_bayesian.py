"""A Bayesian study of 8 trials finds the stand-in's known best combination of a 12-point
grid (tp-size 2: per-token time 24/tp + 4*(tp-1) ms is lowest; mem-fraction-static 0.85:
7 concurrent requests, the most that still starts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import our_containers
from tuner_support import results_of, servedeck, write_config, write_task

pytestmark = pytest.mark.integration


def test_bayesian_finds_the_best_in_fewer_trials_than_the_grid(tmp_path: Path, tuner_docker, lab) -> None:
    cfg = write_config(tmp_path, lab.docker_url)
    params = {"tp-size": [1, 2, 4], "mem-fraction-static": [0.55, 0.65, 0.75, 0.85]}
    task = write_task(tmp_path, "bayes", params,
                      optimization={"strategy": "bayesian", "max_iterations": 8, "n_initial_random": 3, "seed": 4},
                      benchmark={"traffic_scenarios": ["D(10,20)"], "num_concurrency": [8], "max_requests_per_iteration": 16})
    done = servedeck("tune", "run", str(task), "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    doc = results_of(tmp_path, "bayes")
    trials = doc["all_results"]
    assert doc["strategy"] == "bayesian" and len(trials) == 8 < 3 * 4
    assert len({(t["parameters"]["tp-size"], t["parameters"]["mem-fraction-static"]) for t in trials}) == 8
    assert doc["best_result"]["parameters"] == {"tp-size": 2, "mem-fraction-static": 0.85}
    scores = [t["objective_score"] for t in trials if t["objective_score"] is not None]
    assert doc["best_result"]["objective_score"] == min(scores)
    assert our_containers(tuner_docker) == []
