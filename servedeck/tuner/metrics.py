"""genai-bench result files -> the real tool's experiment metrics.

Each run (one traffic scenario x one concurrency) is one JSON file with
`aggregated_metrics`; the built-in runner writes the same files. Unlike the real tool
(which globs only `D*.json`), every scenario kind (D, N, U) is read. Aggregation is the
real tool's: unweighted means over runs, maxima where it takes maxima.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

SKIP = ("experiment_metadata.json",)


def run_files(folder: Path) -> list[Path]:
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        if path.name in SKIP or path.name.startswith("debug_"):
            continue
        out.append(path)
    return out


def _stat(run: dict[str, Any], name: str, key: str) -> float | None:
    value = ((run.get("stats") or {}).get(name) or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """aggregated_metrics of each run -> one metrics dict (the real tool's names)."""
    if not runs:
        return {}

    def stat_mean(name: str, key: str) -> float | None:
        return _mean([_stat(r, name, key) for r in runs])

    def field(name: str) -> list[float]:
        return [float(r[name]) for r in runs if isinstance(r.get(name), (int, float))]

    e2e_means = [v for v in (_stat(r, "e2e_latency", "mean") for r in runs) if v is not None]
    out_tp, total_tp = field("mean_output_throughput_tokens_per_s"), field("mean_total_tokens_throughput_tokens_per_s")
    requests = int(sum(field("num_requests")))
    completed = int(sum(field("num_completed_requests")))
    errors = int(sum(field("num_error_requests")))
    metrics: dict[str, Any] = {
        "mean_e2e_latency": _mean(e2e_means),
        "min_e2e_latency": min(e2e_means) if e2e_means else None,
        "max_e2e_latency": max(e2e_means) if e2e_means else None,
        "mean_output_throughput": _mean(out_tp), "max_output_throughput": max(out_tp) if out_tp else None,
        "mean_total_throughput": _mean(total_tp), "max_total_throughput": max(total_tp) if total_tp else None,
        "total_requests": requests, "total_completed_requests": completed, "total_error_requests": errors,
        "success_rate": completed / requests if requests else 0.0,
        "num_result_files": len(runs),
        "concurrency_levels": sorted({int(r["num_concurrency"]) for r in runs if "num_concurrency" in r}),
        "scenarios": sorted({str(r.get("scenario", "")) for r in runs}),
    }
    for pct in ("p50", "p90", "p99"):
        metrics[f"{pct}_e2e_latency"] = stat_mean("e2e_latency", pct)
        metrics[f"{pct}_ttft"] = stat_mean("ttft", pct)
        metrics[f"{pct}_tpot"] = stat_mean("tpot", pct)
    metrics["mean_ttft"] = stat_mean("ttft", "mean")
    metrics["mean_tpot"] = stat_mean("tpot", "mean")
    return metrics


def read_folder(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """(metrics, names of the files read); unreadable files are skipped, not fatal."""
    runs, names = [], []
    for path in run_files(folder):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        agg = doc.get("aggregated_metrics") if isinstance(doc, dict) else None
        if isinstance(agg, dict):
            runs.append(agg)
            names.append(path.name)
    return aggregate(runs), names
