"""The `runs` backend: helper-container runs (seed 000) as the `container_runs` pane.

Polling reads only files on this host (the pointer and the manifests, re-parsed when
they change), so a manifest that is half-written, malformed or deleted shows as such
and is simply read again on the next poll. The actions drive the helper container
through `HelperContainer`, the same code `servedeck container` runs.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from servedeck.backends.base import (
    Action,
    ActionResult,
    Backend,
    BackendContext,
    BackendError,
    Column,
    OpenLog,
    PaneSpec,
    PartialPoll,
    Rows,
    ShowText,
)
from servedeck.backends.runs.helper import HelperContainer, HelperError
from servedeck.backends.runs.manifests import Manifest, ManifestCache, read_pointer
from servedeck.backends.runs.rows import ContainerRunRow, describe, row_from
from servedeck.backends.runs.settings import RunsSettings

log = logging.getLogger(__name__)

CONTAINER_RUNS = PaneSpec(
    key="container_runs",
    title="Container runs",
    columns=(
        Column("state", "State", 12),
        Column("run_id", "Run", 40),
        Column("container_state", "Container", 9),
        Column("started_at", "Started", 9),
        Column("valid", "Bench-valid", 11),
        Column("warnings_text", "Warnings", 48),
        Column("surfaces_text", "Surfaces", 60),
        Column("profiles_text", "Profiles", 10),
        Column("manifest_path", "Manifest", 50),
    ),
    row_key="run_id",
    aliases=("runs", "run", "manifests"),
    order=30,
)


class RunsBackend(Backend):
    kind = "runs"
    settings_model = RunsSettings
    default_interval = 3.0
    panes = (CONTAINER_RUNS,)
    actions = (
        Action("helper.start", "Start or replace helper container", "container_runs", key="S", needs_row=False,
               confirm=True),
        Action("helper.stop", "Stop helper container", "container_runs", key="X", needs_row=False,
               confirm=True),
        Action("serve.start", "Launch SGLang in the helper", "container_runs", key="L", needs_row=False),
        Action("serve.stop", "Stop SGLang in the helper", "container_runs", key="K", needs_row=False,
               confirm=True),
        Action("run.log", "Open the run's log", "container_runs", mutating=False, key="l"),
        Action("run.details", "Run details and warnings explained", "container_runs", mutating=False, key="d"),
    )
    log_kinds = ("run",)

    settings: RunsSettings

    def __init__(self, settings: RunsSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self.helper = HelperContainer(settings)
        self._cache = ManifestCache()
        self._rows: dict[str, ContainerRunRow] = {}
        self._pointer_problem = ""

    # -- polling -----------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        if "container_runs" not in wanted:
            self.helper.container_state()  # the ping: is the Docker Engine there?
            return {}
        rows = self.scan()
        problems = []
        try:
            state = self.helper.container_state()
            rows = [replace(r, container_state=state) if r.current else r for r in rows]
        except BackendError as exc:
            problems.append(f"{exc.message} (manifests are read from disk; the helper keys need Docker)")
        self._rows = {r.run_id: r for r in rows}
        if self._pointer_problem:
            problems.append(self._pointer_problem)
        current = next((r for r in rows if r.current), None)
        if current is not None and current.valid_for_benchmark is None:
            problems.append(f"current run manifest is {current.state}: {current.problem}")
        if problems:
            raise PartialPoll({"container_runs": tuple(rows)}, "; ".join(problems),
                              hint="files are read again on every refresh")
        return {"container_runs": tuple(rows)}

    def scan(self) -> list[ContainerRunRow]:
        """The current run first, then the history newest first."""
        s = self.settings
        root = s.manifest_root
        pointer = read_pointer(s.pointer_file)
        self._pointer_problem = pointer.problem
        current_path = pointer.resolve(root)
        try:
            paths = sorted(root.glob("*.json"), key=_mtime, reverse=True)[: s.history]
        except OSError:
            paths = []
        if current_path is not None and current_path not in paths:
            paths.insert(0, current_path)
        self._cache.forget_except(set(paths))
        rows = []
        for path in paths:
            manifest = self._cache.get(path)
            is_current = path == current_path
            try:
                host_log = s.host_log(manifest.log_file) if manifest.ok and manifest.log_file else None
            except (ValueError, OSError):  # a log path no host directory maps
                host_log = None
            try:
                rows.append(row_from(manifest, current=is_current, host_log=host_log))
            except Exception as exc:  # one odd manifest spoils its own row, never the pane
                log.exception("manifest %s cannot be shown", path)
                rows.append(row_from(Manifest(path, manifest.run_id, "malformed",
                                              f"cannot be shown ({type(exc).__name__})"),
                                     current=is_current, host_log=None))
        rows.sort(key=lambda r: (not r.current, -(r.started_at or _mtime(Path(r.manifest_path)))))
        return rows

    # -- actions -----------------------------------------------------------------------

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        try:
            if action_id == "helper.start":
                lines: list[str] = []
                result = self.helper.start(emit=lines.append)
                self.request_poll()
                warned = f", {len(result.warnings)} warning(s): not valid for benchmarking" if result.warnings else ""
                return ActionResult(True, f"run {result.run_id} ready{warned}")
            if action_id == "helper.stop":
                message = self.helper.stop()
                self.request_poll()
                return ActionResult(True, message)
            if action_id == "serve.start":
                return ActionResult(True, self.helper.serve())
            if action_id == "serve.stop":
                return ActionResult(True, self.helper.unserve())
            if action_id == "run.details":
                return ActionResult(True, "details", ShowText(f"Run {row.run_id}", describe(row)))
            if action_id == "run.log":
                source = self.log_source("run", row.run_id)
                if source is None:
                    return ActionResult(False, f"run {row.run_id} has no readable log file")
                return ActionResult(True, "log", OpenLog(source, f"run {row.run_id}"))
        except HelperError as exc:
            tail = ("; last log lines: " + " | ".join(exc.tail[-3:])) if exc.tail else ""
            hint = f" ({exc.hint})" if exc.hint else ""
            return ActionResult(False, exc.message + hint + tail)
        return ActionResult(False, f"runs backend cannot {action_id}")

    def log_source(self, kind: str, name: str):
        if kind != "run":
            return None
        row = self._rows.get(name)
        if row is None:
            row = next((r for r in self.scan() if r.run_id == name), None)
        path = Path(row.log_file) if row is not None and row.log_file else self.settings.telemetry / "logs" / f"{name}.log"
        try:
            from servedeck.backends.logs.files import FileSource
        except ImportError:  # the file log source ships separately
            return None
        return FileSource(path, name=f"run/{name}")

    def close(self) -> None:
        self.helper.close()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0

