"""The tuner's persisted state: every experiment, its phase, metrics and score.

Written after every experiment and every phase change with the orchestrator's atomic
store (write-temp + fsync + os.replace), so a kill -9 leaves the old or the new file.
An experiment is recorded (phase `starting`, with its container name) before its
container is created: a restart knows which container to clean up and which
combination to run again.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servedeck.orchestrator.state import StateError, StateStore

STATE_VERSION = 1
PENDING, STARTING, WARMING_UP, BENCHMARKING = "pending", "starting", "warming_up", "benchmarking"
SUCCESS, FAILED, SKIPPED = "success", "failed", "skipped"
ACTIVE = (STARTING, WARMING_UP, BENCHMARKING)
FINISHED = (SUCCESS, FAILED)


@dataclass
class Experiment:
    id: int
    parameters: dict[str, Any]
    status: str = PENDING
    phase_since: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    container: str = ""
    port: int | None = None
    gpus: list[int] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    score: float | None = None  # None: not scored yet; inf is stored as None + failed/hard-failed
    base_score: float | None = None
    slo_met: bool | None = None
    slo_violations: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    log_tail: str = ""
    runner: str = ""
    bench_dir: str = ""
    result_files: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    attempts: int = 0  # times a container was started for it (a restart re-runs a half-started one)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def score_value(self) -> float:
        """The score for ranking: failed or unscored is the worst."""
        return self.score if self.status == SUCCESS and self.score is not None else math.inf


@dataclass
class TunerState:
    task_name: str
    task_file: str = ""
    mode: str = "docker"
    strategy: str = ""
    objective: str = ""
    budget: int = 0
    status: str = "running"  # running | finished | stopped
    pid: int = 0
    started_at: float = field(default_factory=time.time)
    elapsed_before: float = 0.0  # elapsed time of earlier (interrupted) sessions
    session_started: float = field(default_factory=time.time)
    benchmark_runner: str = ""
    parallel: int = 1
    resumes: int = 0
    experiments: list[Experiment] = field(default_factory=list)

    def elapsed(self, now: float | None = None) -> float:
        """Seconds spent tuning over all sessions (a finished session is folded into elapsed_before)."""
        if self.status != "running":
            return self.elapsed_before
        return self.elapsed_before + max(0.0, (now or time.time()) - self.session_started)

    def close_session(self, status: str, now: float | None = None) -> None:
        self.elapsed_before = self.elapsed(now)
        self.status = status

    def best(self) -> Experiment | None:
        done = [e for e in self.experiments if e.status == SUCCESS and e.score is not None]
        return min(done, key=lambda e: e.score) if done else None

    def to_json(self) -> dict[str, Any]:
        doc = {k: v for k, v in vars(self).items() if k != "experiments"}
        doc["version"] = STATE_VERSION
        doc["experiments"] = [_finite(dict(vars(e))) for e in self.experiments]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "TunerState":
        doc = dict(doc)
        doc.pop("version", None)
        experiments = [Experiment(**e) for e in doc.pop("experiments", [])]
        return cls(**doc, experiments=experiments)


def _finite(doc: dict[str, Any]) -> dict[str, Any]:
    for key in ("score", "base_score"):
        if isinstance(doc.get(key), float) and not math.isfinite(doc[key]):
            doc[key] = None
    return doc


class TunerStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._store = StateStore(self.path)

    def load(self) -> TunerState | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state {self.path}: {exc.strerror or exc}") from None
        try:
            return TunerState.from_json(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise StateError(f"state file {self.path} is corrupt ({exc}); move it away to start afresh") from None

    def save(self, state: TunerState) -> None:
        self._store.save(state)
