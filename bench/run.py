"""servedeck's benchmark suite: one command, JSON results.

    .venv/bin/python bench/run.py [--lab DIR] [--repeat N] [--out FILE]

Starts the local lab (unless --lab names a running one), measures, writes JSON to
bench/results/<time>.json (or --out) and prints a summary. Later issues add measures to
MEASURES; each returns a dict of figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from firstframe import MINIMAL_APP, first_frame_seconds, rss_after_start_mib  # noqa: E402
from log_bench import MEASURES as LOG_MEASURES  # noqa: E402
from metrics_bench import MEASURES as METRICS_MEASURES  # noqa: E402
from runs_bench import MEASURES as RUNS_MEASURES  # noqa: E402
from cluster_bench import MEASURES as CLUSTER_MEASURES  # noqa: E402
from orchestrator_bench import MEASURES as ORCHESTRATOR_MEASURES  # noqa: E402
from overview_bench import MEASURES as OVERVIEW_MEASURES  # noqa: E402
from hostile_bench import MEASURES as HOSTILE_MEASURES  # noqa: E402
from serverless_bench import MEASURES as SERVERLESS_MEASURES  # noqa: E402
from compose_bench import MEASURES as COMPOSE_MEASURES  # noqa: E402
from dynamo_bench import MEASURES as DYNAMO_MEASURES  # noqa: E402
from targets import annotate  # noqa: E402
from tuner_bench import MEASURES as TUNER_MEASURES  # noqa: E402
from containers_bench import MEASURES as CONTAINERS_MEASURES  # noqa: E402

PY = sys.executable
SERVEDECK = [PY, "-m", "servedeck"]


def summary(samples: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(samples), 4),
        "min_s": round(min(samples), 4),
        "max_s": round(max(samples), 4),
        "samples": [round(s, 4) for s in samples],
    }


def measure_first_frame(config: Path, repeat: int) -> dict:
    """servedeck on the lab config (it opens on the overview) vs a minimal Textual app,
    same pty, same run."""
    servedeck, minimal = [], []
    for _ in range(repeat):  # interleaved so both see the same machine load
        minimal.append(first_frame_seconds([PY, "-c", MINIMAL_APP], b"MINIMAL-FIRST-FRAME"))
        servedeck.append(first_frame_seconds(SERVEDECK + ["--config", str(config)], b"Needs attention"))
    s, m = summary(servedeck), summary(minimal)
    return {"servedeck": s, "minimal_textual_app": m, "ratio_median": round(s["median_s"] / m["median_s"], 2)}


def measure_rss_after_start(config: Path, repeat: int) -> dict:
    """VmRSS of the cockpit 5 s after its first frame (its first polls done), and of the
    minimal Textual app for scale."""
    servedeck = [rss_after_start_mib(SERVEDECK + ["--config", str(config)], b"Backends") for _ in range(min(repeat, 3))]
    minimal = rss_after_start_mib([PY, "-c", MINIMAL_APP], b"MINIMAL-FIRST-FRAME")
    return {"rss_mib": round(statistics.median(servedeck), 1), "samples_mib": servedeck,
            "minimal_textual_app_mib": minimal}


def measure_status_json(config: Path, repeat: int) -> dict:
    """`status --json` on the lab as configured, and (for scale) the same config with the
    Docker targets' container stats off, interleaved: how much of the wall time is the
    Engine's stats tick and how much is everything else."""
    no_stats = _without_container_stats(config)
    samples, codes, bare = [], set(), []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(SERVEDECK + ["status", "--json", "--config", str(config)], capture_output=True, text=True)
        samples.append(time.perf_counter() - started)
        codes.add(result.returncode)
        started = time.perf_counter()
        subprocess.run(SERVEDECK + ["status", "--json", "--config", str(no_stats)], capture_output=True, text=True)
        bare.append(time.perf_counter() - started)
    backends = json.loads(result.stdout)["backends"]
    return {**summary(samples), "exit_codes": sorted(codes),
            "backends": {b["name"]: b["state"] for b in backends},
            "latency_ms": {b["name"]: b["latency_ms"] for b in backends},  # which backend the wall time waits for
            "docker_stats_no_stream_s": _docker_stats_floor(config),
            "without_container_stats": summary(bare)}


def _without_container_stats(config: Path) -> Path:
    import yaml

    data = yaml.safe_load(config.read_text())
    for target in (data.get("backends") or {}).get("docker") or []:
        target["stats"] = False
    out = config.with_name("servedeck-bench-no-stats.yaml")
    out.write_text(yaml.safe_dump(data))
    return out


def _docker_stats_floor(config: Path) -> float | None:
    """`docker stats --no-stream` on the lab's Engine, for scale: the Engine answers a
    stats request at its collector's tick (1 s on Engine 20.10), so a status that shows
    container CPU % cannot be faster than this."""
    import shutil

    import yaml

    docker = shutil.which("docker")
    targets = (yaml.safe_load(config.read_text()).get("backends") or {}).get("docker") or []
    if not docker or not targets:
        return None
    started = time.perf_counter()
    done = subprocess.run([docker, "-H", targets[0]["url"], "stats", "--no-stream"], capture_output=True)
    return round(time.perf_counter() - started, 3) if done.returncode == 0 else None


MEASURES: dict[str, Callable[[Path, int], dict]] = {
    "first_frame": measure_first_frame,
    "rss_after_start": measure_rss_after_start,
    "status_json": measure_status_json,
    **LOG_MEASURES,
}
MEASURES.update(METRICS_MEASURES)  # gauge panes (issue 4)
MEASURES.update(RUNS_MEASURES)  # run-manifests pane (issue 3)
MEASURES.update(CLUSTER_MEASURES)  # squeue/jobs table at scale, tunnel throughput (issue 5)
MEASURES.update(ORCHESTRATOR_MEASURES)  # orchestrator: run to ready, death to replaced, reconcile CPU (issue 6)
MEASURES.update(OVERVIEW_MEASURES)  # overview refresh at 256 GPUs / 10,000 jobs / 500 workers (issue 13)
MEASURES.update(HOSTILE_MEASURES)  # hostile input: 50 MB / deep manifests, YAML alias bomb (issue 15)
MEASURES.update(SERVERLESS_MEASURES)  # Pylet instances at scale, sllm cold start (issue 10)
MEASURES.update(COMPOSE_MEASURES)  # compose pane: one poll of many projects (issue 10)
MEASURES.update(DYNAMO_MEASURES)  # Dynamo builds: servedeck vs plain CLI, builds pane under 5,000 lines (issue 11)
MEASURES.update(TUNER_MEASURES)  # autotuner: overhead per experiment, Experiments pane at 500 (issue 12)
MEASURES.update(CONTAINERS_MEASURES)  # containers pane: stats for on-screen rows only, 20 vs 200 (issue 14)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", help="use a running lab in DIR instead of starting one")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=sorted(MEASURES))
    parser.add_argument("--out")
    args = parser.parse_args()

    started_lab = None
    if args.lab:
        lab_dir = Path(args.lab)
    else:
        lab_dir = Path(tempfile.mkdtemp(prefix="servedeck-bench-lab-"))
        subprocess.run(SERVEDECK + ["lab", "up", "--dir", str(lab_dir)], check=True, stdout=subprocess.DEVNULL)
        started_lab = lab_dir
    config = lab_dir / "servedeck.yaml"
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "measures": {},
    }
    try:
        for name in args.only or MEASURES:
            print(f"measuring {name}…", file=sys.stderr)
            results["measures"][name] = MEASURES[name](config, args.repeat)
    finally:
        if started_lab:
            subprocess.run(SERVEDECK + ["lab", "down", "--dir", str(started_lab)], stdout=subprocess.DEVNULL)
    results["targets"] = annotate(results["measures"])  # issue 14: figure, target, ratio, met
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results["measures"], indent=2))
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
