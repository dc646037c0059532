"""Issue 14's targets beside the figures the suite measures: `annotate(measures)` adds a
`targets` list to the results JSON and `table(results)` renders it for bench/README.md.

Each target names a figure by its path in the results (`status_json.median_s`), the
bound, and whether lower or higher is better; `ratio` is figure / bound (lower-is-better:
<= 1 meets it; higher-is-better: >= 1 meets it). Where the measure is itself a ratio
(first frame vs a minimal Textual app), the bound is on that ratio.
"""

from __future__ import annotations

from typing import Any

# (label, path, bound, "max" or "min", unit)
TARGETS: list[tuple[str, str, float, str, str]] = [
    ("first frame vs minimal Textual app (ratio)", "first_frame.ratio_median", 1.3, "max", "×"),
    ("resident memory after start", "rss_after_start.rss_mib", 80.0, "max", "MiB"),
    ("status --json on the lab", "status_json.median_s", 0.5, "max", "s"),
    ("idle CPU, Backends pane", "idle_cpu.backends_pane.cpu_percent", 1.0, "max", "%"),
    ("idle CPU, GPUs pane", "idle_cpu.gpus_pane.cpu_percent", 1.0, "max", "%"),
    ("idle CPU, worst pane", "idle_cpu.worst_pane_cpu_percent", 1.0, "max", "%"),
    ("jobs pane 50,000 jobs: first fill", "squeue_jobs.50000_jobs.first_fill_s", 0.25, "max", "s"),
    ("jobs pane 50,000 jobs: 1 % changed update", "squeue_jobs.50000_jobs.update_1pct_changed_s", 0.05, "max", "s"),
    ("squeue JSON parse 50,000 jobs (22.05)", "squeue_jobs.50000_jobs.parse_22.05_s", 0.2, "max", "s"),
    ("squeue JSON parse 50,000 jobs (23.11)", "squeue_jobs.50000_jobs.parse_23.11_s", 0.2, "max", "s"),
    ("GPU pane 256 GPUs: update", "gpu_pane_256.update_median_s", 0.03, "max", "s"),
    ("containers pane: requests per refresh, 200 vs 20 containers", "containers_stats.requests_200_vs_20", 1.1, "max", "×"),
    ("containers pane: CPU per refresh, 200 vs 20 containers", "containers_stats.cpu_200_vs_20", 1.5, "max", "×"),
    ("log pane ingest vs the reader alone", "log_ingest.pane_vs_source", 0.9, "min", "×"),
    ("-L tunnel throughput vs direct", "tunnel_throughput.tunnel_vs_direct", 0.5, "min", "×"),
    # The orchestrator against the public sgorch's figures from issue 14 (same SLURM, router, settings).
    ("orchestrator: run → 2 workers listed, vs sgorch", "orchestrator_ready.run_to_ready_s.vs_sgorch", 0.8, "max", "×"),
    ("orchestrator: scancel → replacement listed, vs sgorch", "orchestrator_ready.scancel_to_replaced_s.vs_sgorch",
     0.8, "max", "×"),
    ("orchestrator: worker killed, job running → replacement listed, vs sgorch",
     "orchestrator_ready.kill_to_replaced_s.vs_sgorch", 0.5, "max", "×"),
    ("orchestrator CPU at steady state, 2 workers", "orchestrator_ready.steady_cpu_s_per_min.median", 0.3, "max",
     "s/min"),
]


def lookup(measures: dict[str, Any], path: str) -> Any:
    """The figure at `a.b.c`; keys may contain dots (`parse_22.05_s`), so match greedily."""
    node: Any = measures
    rest = path
    while rest:
        if not isinstance(node, dict):
            return None
        key = next((k for k in sorted(node, key=len, reverse=True) if rest == k or rest.startswith(k + ".")), None)
        if key is None:
            return None
        node, rest = node[key], rest[len(key) + 1:]
    return node


def annotate(measures: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for label, path, bound, sense, unit in TARGETS:
        value = lookup(measures, path)
        if not isinstance(value, (int, float)):
            continue
        ratio = value / bound if bound else None
        met = value <= bound if sense == "max" else value >= bound
        out.append({"measure": label, "path": path, "value": value, "target": bound, "unit": unit,
                    "sense": "at most" if sense == "max" else "at least",
                    "ratio_to_target": round(ratio, 3) if ratio is not None else None, "met": met})
    return out


def table(results: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    """A markdown table of the targets (with a `before` column when given)."""
    rows = annotate(results["measures"])
    old = {r["path"]: r["value"] for r in annotate(before["measures"])} if before else {}
    head = "| measure | " + ("before | " if before else "") + "now | target | met |"
    lines = [head, "|" + "---|" * (4 + bool(before))]
    for r in rows:
        cells = [r["measure"]]
        if before:
            cells.append(f"{old[r['path']]:g} {r['unit']}" if r["path"] in old else "–")
        cells += [f"{r['value']:g} {r['unit']}", f"{r['sense']} {r['target']:g} {r['unit']}", "yes" if r["met"] else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # python bench/targets.py RESULTS.json [BEFORE.json]
    import json
    import sys

    now = json.load(open(sys.argv[1]))
    was = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else None
    print(table(now, was))
