"""A score-against-parameter plot request: the follow-up of the Experiments pane's `g`.

Textual-free: the backend builds it from its last status, the widget only draws it.
Categorical parameters (strings, booleans) are placed at 0, 1, 2... with their labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

METRIC_NAMES = ("score", "mean_e2e_latency", "p50_e2e_latency", "p99_e2e_latency", "mean_ttft", "mean_tpot",
                "mean_output_throughput", "mean_total_throughput", "success_rate")


@dataclass(frozen=True)
class ScatterRequest:
    title: str
    x_label: str
    y_label: str
    points: tuple[tuple[float, float, int], ...]  # (x, y, experiment id)
    x_ticks: tuple[tuple[float, str], ...] = ()  # categorical x: position -> label
    best_id: int | None = None
    failed: tuple[tuple[float, int], ...] = field(default_factory=tuple)  # x of failed experiments


def _value(exp: Mapping[str, Any], metric: str) -> float | None:
    value = exp.get("score") if metric == "score" else (exp.get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def scatter(doc: Mapping[str, Any], parameter: str, metric: str = "score") -> ScatterRequest:
    exps = [e for e in doc.get("experiments", []) if parameter in (e.get("parameters") or {})]
    raw = [e["parameters"][parameter] for e in exps]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    ticks: tuple[tuple[float, str], ...] = ()
    if numeric:
        xs = [float(v) for v in raw]
    else:
        labels = sorted({str(v) for v in raw})
        ticks = tuple((float(i), label) for i, label in enumerate(labels))
        xs = [float(labels.index(str(v))) for v in raw]
    points, failed = [], []
    for x, e in zip(xs, exps):
        y = _value(e, metric)
        if y is None:
            if e.get("status") in ("failed", "success"):
                failed.append((x, int(e["id"])))
        else:
            points.append((x, y, int(e["id"])))
    best = (doc.get("best") or {}).get("experiment_id")
    return ScatterRequest(f"{doc.get('task_name', '')}: {metric} against {parameter}", parameter, metric,
                          tuple(points), ticks, best, tuple(failed))


def parameters_of(doc: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for e in doc.get("experiments", []):
        for name in e.get("parameters") or {}:
            if name not in names:
                names.append(name)
    return names
