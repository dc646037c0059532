"""genai-bench for real (installed by scripts/setup.sh in .venv-genai-bench), offline with
a local tokenizer, against the stand-in image: its output files parsed and the score
recomputed by the test from them; the results say genai-bench ran."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path

import pytest

from conftest import our_containers
from tuner_support import results_of, servedeck, write_config, write_task

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GENAI_BENCH = ROOT / ".venv-genai-bench" / "bin" / "genai-bench"


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    if not GENAI_BENCH.exists():
        pytest.skip("genai-bench is not installed (scripts/setup.sh puts it in .venv-genai-bench)")
    out = tmp_path_factory.mktemp("tokenizer")
    subprocess.run([str(GENAI_BENCH.parent / "python"), str(ROOT / "lab" / "standin_tokenizer.py"), str(out)],
                   check=True, capture_output=True, timeout=300)
    return out


def test_grid_with_real_genai_bench(tmp_path: Path, tuner_docker, lab, tokenizer_dir: Path) -> None:
    cfg = write_config(tmp_path, lab.docker_url, benchmark={"runner": "genai-bench", "genai_bench": str(GENAI_BENCH),
                                                             "tokenizer_dir": str(tokenizer_dir)})
    task = write_task(tmp_path, "genai2", {"mem-fraction-static": [0.6, 0.8]},
                      benchmark={"num_concurrency": [1, 4], "max_requests_per_iteration": 8, "max_time_per_iteration": 1})
    done = servedeck("tune", "run", str(task), "--config", str(cfg), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = results_of(tmp_path, "genai2")
    assert doc["benchmark_runner"] == "genai-bench"
    for r in doc["all_results"]:
        assert r["status"] == "success" and r["benchmark_runner"] == "genai-bench", r["error"]
        folder = tmp_path / "results" / "benchmark_results" / f"genai2-exp{r['experiment_id']}"
        meta = json.loads((folder / "experiment_metadata.json").read_text())
        assert "genai-bench" in json.dumps(meta) or meta.get("benchmark_version")
        runs = sorted(folder.glob("D10_10_text-to-text_num_concurrency_*_time_*s.json"))
        assert len(runs) == 2 and sorted(r["result_files"]) == sorted(p.name for p in runs)
        means = [json.loads(p.read_text())["aggregated_metrics"]["stats"]["e2e_latency"]["mean"] for p in runs]
        assert r["objective_score"] == pytest.approx(statistics.fmean(means))
    assert doc["best_result"]["experiment_id"] == min(doc["all_results"], key=lambda r: r["objective_score"])["experiment_id"]
    assert our_containers(tuner_docker) == []
