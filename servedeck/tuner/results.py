"""results/<task>_results.json (the real tool's keys plus the seed's) and a CSV, and the
live status document the CLI and the Experiments pane read.

`best_result` is the real tool's key, `best_experiment` the seed's (same content). Scores
of failed or hard-failed experiments are written as null (JSON has no infinity).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from servedeck.tuner.state import ACTIVE, FINISHED, SUCCESS, Experiment, TunerState

CSV_METRICS = ("mean_e2e_latency", "p50_e2e_latency", "p99_e2e_latency", "mean_ttft", "mean_tpot",
               "mean_output_throughput", "mean_total_throughput", "success_rate")


def experiment_doc(e: Experiment) -> dict[str, Any]:
    score = e.score if e.score is not None and math.isfinite(e.score) else None
    return {"experiment_id": e.id, "parameters": e.parameters, "status": e.status, "metrics": e.metrics,
            "objective_score": score, "base_score": e.base_score, "slo_met": e.slo_met,
            "slo_violations": e.slo_violations, "error": e.error, "container_logs": e.log_tail,
            "benchmark_runner": e.runner, "container": e.container, "port": e.port, "gpus": e.gpus,
            "result_files": e.result_files, "timings": e.timings, "attempts": e.attempts}


def results_doc(state: TunerState) -> dict[str, Any]:
    best = state.best()
    best_doc = experiment_doc(best) if best else None
    return {"task_name": state.task_name, "strategy": state.strategy, "objective": state.objective,
            "mode": state.mode, "benchmark_runner": state.benchmark_runner,
            "total_experiments": len(state.experiments),
            "successful_experiments": sum(e.status == SUCCESS for e in state.experiments),
            "elapsed_time": round(state.elapsed(), 3), "status": state.status,
            "best_result": best_doc, "best_experiment": best_doc,
            "all_results": [experiment_doc(e) for e in state.experiments]}


def _atomic_write(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)


def results_path(results_dir: Path, task_name: str) -> Path:
    return Path(results_dir) / f"{task_name}_results.json"


def write(state: TunerState, results_dir: Path) -> Path:
    path = results_path(results_dir, state.task_name)
    _atomic_write(path, json.dumps(results_doc(state), indent=2))
    names = sorted({k for e in state.experiments for k in e.parameters})
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["experiment_id", "status", *names, "objective_score", "slo_met", *CSV_METRICS, "error"])
    for e in state.experiments:
        doc = experiment_doc(e)
        out.writerow([e.id, e.status, *(e.parameters.get(n, "") for n in names), doc["objective_score"], e.slo_met,
                      *(e.metrics.get(m, "") for m in CSV_METRICS), e.error])
    _atomic_write(path.with_suffix(".csv"), buf.getvalue())
    return path


def status_doc(state: TunerState, *, running: bool, now: float | None = None) -> dict[str, Any]:
    """Progress, ETA, best so far, and one row per experiment (what the pane renders)."""
    now = now or time.time()
    done = [e for e in state.experiments if e.status in FINISHED]
    durations = [e.finished_at - e.started_at for e in done if e.finished_at and e.started_at]
    remaining = max(0, state.budget - len(done))
    eta = (sum(durations) / len(durations)) * remaining / max(1, state.parallel) if durations and running else None
    best = state.best()
    return {"task_name": state.task_name, "running": running, "status": state.status if not running else "running",
            "mode": state.mode, "strategy": state.strategy, "objective": state.objective,
            "benchmark_runner": state.benchmark_runner, "pid": state.pid,
            "done": len(done), "total": state.budget, "active": sum(e.status in ACTIVE for e in state.experiments),
            "elapsed": round(state.elapsed(now), 1), "eta": round(eta, 1) if eta is not None else None,
            "best": {"experiment_id": best.id, "parameters": best.parameters, "score": best.score} if best else None,
            "experiments": [{"id": e.id, "parameters": e.parameters, "status": e.status,
                             "phase_since": e.phase_since, "in_phase": round(now - e.phase_since, 1), "score": e.score, "slo_met": e.slo_met,
                             "error": e.error[:200], "container": e.container,
                             "metrics": {k: e.metrics.get(k) for k in CSV_METRICS if k in e.metrics}}
                            for e in state.experiments]}


def render_text(doc: dict[str, Any]) -> str:
    eta = f", ETA {doc['eta']:.0f}s" if doc.get("eta") is not None else ""
    lines = [f"{doc['task_name']}: {doc['status']} ({doc['strategy']}, {doc['objective']}) "
             f"{doc['done']}/{doc['total']} done, elapsed {doc['elapsed']:.0f}s{eta}"]
    best = doc.get("best")
    if best:
        lines.append(f"best: exp{best['experiment_id']} {json.dumps(best['parameters'])} score {best['score']:.4g}")
    for e in doc["experiments"]:
        score = "-" if e["score"] is None else f"{e['score']:.4g}"
        slo = {True: "slo ok", False: "slo miss", None: ""}[e["slo_met"]]
        lines.append(f"  exp{e['id']:<4} {e['status']:<12} {score:>10} {slo:<8} {json.dumps(e['parameters'])}"
                     + (f"  ({e['error'][:80]})" if e["error"] else ""))
    return "\n".join(lines)
