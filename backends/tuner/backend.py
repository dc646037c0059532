"""The Experiments pane: attaches to a running tuner's control socket (as the deployments
pane attaches to the orchestrator); without one, it shows the last tuning from the state
file, degraded (down, with those rows, when the state says running and its tuner's pid
is gone: killed mid-run). A header row carries progress (n of N), elapsed, ETA and the best so far;
then one row per experiment: parameters, phase and time in it, headline metrics, score,
SLO met. Actions: stop, resume (starts `servedeck tune run TASK --resume` detached),
results, the tuner's live log (benchmark output) in the logs pane, and `g`: score (or
any metric) against a parameter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pydantic import Field

from servedeck.backends.base import (
    Action, ActionResult, Backend, BackendContext, BackendError, BackendSettings, Column, OpenLog, PaneSpec,
    PartialPoll, Rows, ShowText,
)
from servedeck.backends.tuner.plot import METRIC_NAMES, parameters_of, scatter


@dataclass(frozen=True)
class ExperimentRow:
    id: str  # "header" or "exp<N>"
    exp: str
    parameters: str
    phase: str
    phase_at: float | None
    latency_ms: float | None
    p99_ms: float | None
    ttft_ms: float | None
    tpot_ms: float | None
    throughput: str
    score: str
    slo: bool | None
    why: str


EXPERIMENTS = PaneSpec(
    key="experiments",
    title="Experiments",
    columns=(
        Column("exp", "Exp", 7), Column("parameters", "Parameters", 44), Column("phase", "Phase", 13),
        Column("phase_at", "In phase", 9), Column("latency_ms", "Latency", 8), Column("p99_ms", "p99", 8),
        Column("ttft_ms", "TTFT", 7), Column("tpot_ms", "TPOT", 6), Column("throughput", "Tok/s", 7),
        Column("score", "Score", 9), Column("slo", "SLO", 4), Column("why", "Why", 60),
    ),
    row_key="id",
    aliases=("ex", "exp", "tune", "tuner"),
    order=115,
)


class TunerBackendSettings(BackendSettings):
    state_dir: str = Field(default="~/.local/state/servedeck/tuner",
                           description="The tuner's state dir (its control socket and state files live there).")
    config: str | None = Field(default=None, description="servedeck config the tuner runs with (for resume).")
    timeout: float = Field(default=5.0, gt=0)


def _fmt(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def rows(doc: Mapping[str, Any]) -> list[ExperimentRow]:
    best = doc.get("best")
    best_text = f"best exp{best['experiment_id']} {_fmt(best['score'])}" if best else "no best yet"
    state = doc.get("status", "")
    header = ExperimentRow(
        id="header", exp="", parameters=f"{doc.get('task_name', '')}: {doc.get('done', 0)} of {doc.get('total', 0)} done,"
        f" {doc.get('strategy', '')}", phase=state, phase_at=None,
        latency_ms=None, p99_ms=None, ttft_ms=None, tpot_ms=None, throughput="", score="", slo=None,
        why=f"{doc.get('objective', '')}: elapsed {_duration(doc.get('elapsed'))}, ETA {_duration(doc.get('eta')) if doc.get('eta') is not None else '-'},"
            f" {best_text}, runner {doc.get('benchmark_runner', '')}")
    out = [header]
    best_id = best["experiment_id"] if best else None
    for e in doc.get("experiments", []):
        m = e.get("metrics") or {}
        def ms(name: str) -> float | None:
            value = m.get(name)
            return value * 1000 if isinstance(value, (int, float)) else None

        score = _fmt(e.get("score"))
        out.append(ExperimentRow(
            id=f"exp{e['id']}", exp=f"{'*' if e['id'] == best_id else ''}exp{e['id']}",
            parameters=" ".join(f"{k}={v}" for k, v in (e.get("parameters") or {}).items()),
            phase="done" if e["status"] == "success" else e["status"].replace("_", " "),
            phase_at=e.get("phase_since"), latency_ms=ms("mean_e2e_latency"), p99_ms=ms("p99_e2e_latency"),
            ttft_ms=ms("mean_ttft"), tpot_ms=ms("mean_tpot"),
            throughput=_fmt(m.get("mean_output_throughput"), 4), score=score or ("worst" if e["status"] == "failed" else ""),
            slo=e.get("slo_met"), why=e.get("error", "")))
    return out


def tuner_alive(pid: object) -> bool:
    """A tuner process with this pid runs here (the state dir is local): a tuner killed
    with -9 leaves its state saying "running", and only its pid tells."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"servedeck" in cmdline and b"tune" in cmdline


class TunerBackend(Backend):
    kind = "tuner"
    settings_model = TunerBackendSettings
    default_interval = 1.0  # a running tuning's trials move every second or so
    idle_interval = 5.0  # no tuner running: its last state does not change
    panes = (EXPERIMENTS,)
    actions = (
        Action("tuner.stop", "Stop tuner", "experiments", confirm=True, key="s",
               needs_row=False),
        Action("tuner.resume", "Resume", "experiments", key="u", needs_row=False),
        Action("tuner.results", "Results", "experiments", mutating=False, key="o", needs_row=False),
        Action("tuner.log", "Tuner log", "experiments", mutating=False, key="l",
               needs_row=False),
        Action("tuner.plot", "Plot score vs parameter", "experiments", mutating=False, key="g",
               needs_row=False, prompt="Parameter [metric]"),
    )

    settings: TunerBackendSettings

    def __init__(self, settings: TunerBackendSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self._doc: dict[str, Any] = {}

    @property
    def state_dir(self) -> Path:
        return Path(os.path.expanduser(self.settings.state_dir))

    def _request(self, doc: dict[str, Any]) -> dict[str, Any]:
        from servedeck.orchestrator.control import ControlError, request

        try:
            return request(self.state_dir / "tuner.sock", doc, timeout=self.settings.timeout)
        except ControlError as exc:
            raise BackendError(f"no tuner running ({exc})", hint="servedeck tune run TASK") from None

    def _last_state(self) -> dict[str, Any] | None:
        from servedeck.orchestrator.state import StateError
        from servedeck.tuner import results
        from servedeck.tuner.state import TunerStore

        current = self.state_dir / "current"
        try:
            name = current.read_text().strip()
            state = TunerStore(self.state_dir / f"{name}.json").load()
        except (OSError, StateError):
            return None
        return results.status_doc(state, running=False) if state else None

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        self.live = False  # unless a tuner answers, below
        try:
            reply = self._request({"cmd": "status"})
            if not reply.get("ok"):
                raise BackendError(str(reply.get("message", "tuner not ready")), reachable=True)
            self._doc = reply["status"]
            self.live = True
        except BackendError as exc:
            last = self._last_state()
            if last is None:
                if (self.state_dir / "tuner.lock").exists() or (self.state_dir / "current").exists():
                    raise  # a tuner has run here: its state should be readable
                self._doc = {}
                return {"experiments": ()}  # no tuning has run yet: idle, not down
            if last["status"] == "running":  # the state says running, nothing answers
                last = {**last, "status": "died" if not tuner_alive(last.get("pid")) else "not answering"}
            self._doc = last
            panes = {"experiments": tuple(rows(last))} if "experiments" in wanted else {}
            if last["status"] == "died":  # killed mid-run: down, with its last rows
                died = BackendError(f"tuner (pid {last.get('pid')}) died while tuning {last['task_name']}; "
                                    "showing its last state", hint="resume it with `u`")
                died.panes = panes  # type: ignore[attr-defined]  # the runner keeps them
                raise died from None
            if last["status"] == "not answering":
                raise BackendError(f"tuner (pid {last.get('pid')}) does not answer its control socket ({exc.message})",
                                   reachable=True) from None
            raise PartialPoll(panes, f"tuner not running; showing the last state of {last['task_name']}",
                              hint="resume it with `u`") from None
        return {"experiments": tuple(rows(self._doc))} if "experiments" in wanted else {}

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        self.live = True  # resume starts a tuner: watch closely until a poll says otherwise
        if action_id == "tuner.stop":
            reply = self._request({"cmd": "stop"})
            self.request_poll()
            return ActionResult(bool(reply.get("ok")), str(reply.get("message", "")))
        if action_id == "tuner.resume":
            return self._resume()
        if action_id == "tuner.results":
            return self._results()
        if action_id == "tuner.log":
            from servedeck.backends.logs.files import FileSource

            name = self._doc.get("task_name")
            if not name:
                return ActionResult(False, "no tuning known yet")
            path = self.state_dir / f"{name}.log"
            return ActionResult(True, f"log of {name}", OpenLog(FileSource(path, f"file/{path}"), f"tuner {name}"))
        if action_id == "tuner.plot":
            return self._plot(value or "")
        return super().perform(action_id, row, value)

    def _plot(self, value: str) -> ActionResult:
        names = parameters_of(self._doc)
        if not names:
            return ActionResult(False, "no experiments to plot yet")
        words = value.split()
        parameter = words[0] if words else names[0]
        metric = words[1] if len(words) > 1 else "score"
        if parameter not in names:
            return ActionResult(False, f"unknown parameter {parameter!r} (one of: {', '.join(names)})")
        if metric not in METRIC_NAMES:
            return ActionResult(False, f"unknown metric {metric!r} (one of: {', '.join(METRIC_NAMES)})")
        return ActionResult(True, f"{metric} against {parameter}", scatter(self._doc, parameter, metric))

    def _results(self) -> ActionResult:
        from servedeck.tuner import results

        if not self._doc:
            return ActionResult(False, "no tuning known yet")
        return ActionResult(True, "", ShowText(f"Results of {self._doc.get('task_name')}", results.render_text(self._doc)))

    def _resume(self) -> ActionResult:
        from servedeck.tuner.state import TunerStore

        name = self._doc.get("task_name")
        if not name:
            return ActionResult(False, "no tuning to resume")
        if self._doc.get("running"):
            return ActionResult(False, f"{name} is running")
        state = TunerStore(self.state_dir / f"{name}.json").load()
        if state is None or not state.task_file or not Path(state.task_file).exists():
            return ActionResult(False, "the task file of the last tuning is gone")
        argv = [sys.executable, "-m", "servedeck", "tune", "run", state.task_file, "--resume", "--quiet",
                "--mode", state.mode, "--parallel", str(state.parallel)]
        if self.settings.config:
            argv += ["--config", os.path.expanduser(self.settings.config)]
        with open(os.devnull, "rb") as devnull:
            subprocess.Popen(argv, stdin=devnull, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.request_poll()
        return ActionResult(True, f"resuming {name} (log: l)")
