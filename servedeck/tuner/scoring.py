"""Objective scores (lower is always better) with the real tool's SLO penalty.

base: minimize_latency -> mean_e2e_latency (else p50_e2e_latency); maximize_throughput ->
-mean_total_throughput (else mean_output_throughput, else max_total_throughput);
minimize_ttft -> mean_ttft; minimize_tpot -> mean_tpot. A missing metric scores +inf.
SLO: for each limit exceeded, ratio = (actual - threshold) / threshold; a hard_fail limit
exceeded by more than fail_ratio makes the score +inf; otherwise
penalty += weight * exp(ratio / steepness), and score = base + penalty * |base|.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from servedeck.tuner.task import SLO, PercentileSLO, SLOLimit

OBJECTIVE_METRICS = {
    "minimize_latency": (("mean_e2e_latency", "p50_e2e_latency"), 1.0),
    "maximize_throughput": (("mean_total_throughput", "mean_output_throughput", "max_total_throughput"), -1.0),
    "minimize_ttft": (("mean_ttft",), 1.0),
    "minimize_tpot": (("mean_tpot",), 1.0),
}
# SLO key -> metric name prefix, and the metric a percentile-less limit applies to.
SLO_METRICS = {"latency": ("e2e_latency", "p50_e2e_latency"), "ttft": ("ttft", "mean_ttft"), "tpot": ("tpot", "mean_tpot")}


@dataclass(frozen=True)
class Violation:
    metric: str
    actual: float
    threshold: float
    ratio: float
    hard: bool  # a hard_fail limit exceeded by more than its fail_ratio


@dataclass(frozen=True)
class Score:
    value: float
    base: float
    penalty: float = 0.0
    violations: tuple[Violation, ...] = field(default_factory=tuple)

    @property
    def slo_met(self) -> bool:
        return not self.violations

    @property
    def hard_failed(self) -> bool:
        return any(v.hard for v in self.violations)


def base_score(metrics: dict[str, Any], objective: str) -> float:
    names, sign = OBJECTIVE_METRICS[objective]
    for name in names:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and math.isfinite(value):
            return sign * float(value)
    return math.inf


def _limits(slo: SLO) -> list[tuple[str, SLOLimit]]:
    out = []
    for key, (prefix, plain_metric) in SLO_METRICS.items():
        block = getattr(slo, key)
        if isinstance(block, PercentileSLO):
            for pct in ("p50", "p90", "p99"):
                limit = getattr(block, pct)
                if limit is not None:
                    out.append((f"{pct}_{prefix}", limit))
        elif isinstance(block, SLOLimit):
            out.append((plain_metric, block))
    return out


def score(metrics: dict[str, Any], objective: str, slo: SLO | None = None) -> Score:
    base = base_score(metrics, objective)
    if slo is None or not math.isfinite(base):
        return Score(base, base)
    violations, penalty = [], 0.0
    for metric, limit in _limits(slo):
        actual = metrics.get(metric)
        if not isinstance(actual, (int, float)) or actual <= limit.threshold:
            continue
        ratio = (actual - limit.threshold) / limit.threshold
        hard = limit.hard_fail and ratio > limit.fail_ratio
        violations.append(Violation(metric, float(actual), float(limit.threshold), ratio, hard))
        if not hard:
            penalty += limit.weight * math.exp(min(ratio / slo.steepness, 700.0))
    if any(v.hard for v in violations):
        return Score(math.inf, base, penalty, tuple(violations))
    return Score(base + penalty * abs(base), base, penalty, tuple(violations))
