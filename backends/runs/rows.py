"""Rows of the `container_runs` pane: one per helper-container run manifest.

The first five fields are the issue's `status --json` contract (run_id, manifest_path,
started, warnings, telemetry_surfaces); the rest say whether the run can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servedeck.backends.runs.manifests import Manifest, explain
from servedeck.text import safe


@dataclass(frozen=True)
class ContainerRunRow:
    run_id: str
    manifest_path: str  # host path of the manifest JSON
    started: str  # ISO-8601 UTC as the manifest says ("" when unreadable)
    warnings: tuple[str, ...]
    telemetry_surfaces: dict[str, str]  # surface -> status (running, failed, absent, expected)
    state: str  # current, history, or why the manifest is unusable: malformed, half-written, missing, unreadable
    current: bool  # the pointer file names this run
    valid_for_benchmark: bool | None  # no warnings; None when the manifest cannot be read
    started_at: float | None = None  # epoch seconds, for the age column
    problem: str = ""  # why the manifest cannot be used
    log_file: str = ""  # host path of the run's log
    container_log_file: str = ""  # the same log as the container sees it (storage.log_file)
    paths: dict[str, dict[str, str]] = field(default_factory=dict)  # host / container
    profile_storage: dict[str, dict[str, Any]] = field(default_factory=dict)
    storage_roots: dict[str, str] = field(default_factory=dict)
    exporters: dict[str, str] = field(default_factory=dict)  # exporter -> status
    unknown_warnings: int = 0  # warnings not in the seed's taxonomy
    container_state: str = ""  # the helper container's state, on the current run's row only

    # -- display helpers (properties: not part of `status --json`) ------------------------

    @property
    def valid(self) -> str:
        if self.valid_for_benchmark is None:
            return "unknown"
        return "yes" if self.valid_for_benchmark else "no"

    @property
    def warnings_text(self) -> str:
        if not self.warnings:
            return ""
        first = self.warnings[0]
        more = f" (+{len(self.warnings) - 1})" if len(self.warnings) > 1 else ""
        return f"{first}{more}"

    @property
    def surfaces_text(self) -> str:
        return " ".join(f"{name.removesuffix('_metrics')}:{status}" for name, status in self.telemetry_surfaces.items())

    @property
    def profiles_text(self) -> str:
        if not self.profile_storage:
            return ""
        present = sum(1 for p in self.profile_storage.values() if p.get("present"))
        return f"{present}/{len(self.profile_storage)} cached"


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def row_from(manifest: Manifest, *, current: bool, host_log: Path | None) -> ContainerRunRow:
    """A row for one manifest; unusable manifests keep their state and problem."""
    if not manifest.ok:
        return ContainerRunRow(
            run_id=manifest.run_id, manifest_path=str(manifest.path), started="", warnings=(),
            telemetry_surfaces={}, state=manifest.state, current=current, valid_for_benchmark=None,
            problem=manifest.problem,
        )
    data = manifest.data
    warnings = manifest.warnings
    paths = data.get("paths") or {}
    profiles = data.get("profile_storage") if isinstance(data.get("profile_storage"), dict) else {}
    exporters = {str(k): str(v.get("status", "unknown")) if isinstance(v, dict) else str(v)
                 for k, v in (data.get("exporters") or {}).items()} if isinstance(data.get("exporters"), dict) else {}
    return ContainerRunRow(
        run_id=manifest.run_id,
        manifest_path=str(manifest.path),
        started=manifest.started,
        warnings=warnings,
        telemetry_surfaces=manifest.surfaces,
        state="current" if current else "history",
        current=current,
        valid_for_benchmark=not warnings,
        started_at=manifest.started_epoch,
        log_file=str(host_log) if host_log else manifest.host_path("log_file"),
        container_log_file=manifest.log_file,
        paths={"host": _str_map(paths.get("host")), "container": _str_map(paths.get("container"))},
        profile_storage={str(k): dict(v) for k, v in profiles.items() if isinstance(v, dict)},
        storage_roots=_str_map(data.get("storage_roots")),
        exporters=exporters,
        unknown_warnings=sum(1 for w in warnings if explain(w).known is None),
    )


def describe(row: ContainerRunRow) -> str:
    """The details of a run as plain text: the viewer and the pane's detail panel show it."""
    lines = [f"Run {_one(row.run_id)}  [{row.state}]"]
    if row.valid_for_benchmark is None:
        lines.append(f"Manifest {row.state}: {_one(row.problem)}")
        lines.append(f"  {_one(row.manifest_path)}")
        lines.append("  It is read again on every refresh.")
        return "\n".join(lines)
    if row.valid_for_benchmark:
        lines.append("VALID FOR BENCHMARKING: the manifest lists no warnings.")
    else:
        n = len(row.warnings)
        lines.append(f"NOT VALID FOR BENCHMARKING: {n} warning{'s' if n != 1 else ''} "
                     "(automation gates on an empty list).")
    lines.append(f"Started {_one(row.started) or '?'}")
    if row.container_state:
        lines.append(f"Helper container: {_one(row.container_state)}")
    lines.append("")
    lines.append("Warnings" if row.warnings else "Warnings: none")
    for text in row.warnings:
        explained = explain(text)
        if explained.known is None:
            lines.append(f"  ? UNKNOWN: {_one(text)}")
            lines.append("      Not in the warning taxonomy: treat the run as degraded and read the run log.")
        else:
            lines.append(f"  ! {_one(text)}")
            lines.append(f"      Means: {explained.known.meaning}")
            lines.append(f"      Do:    {explained.known.remedy}")
    lines.append("")
    lines.append("Telemetry surfaces")
    lines += [f"  {_one(name):<16} {_one(status)}" for name, status in row.telemetry_surfaces.items()] or ["  (none listed)"]
    if row.exporters:
        lines.append("Exporters")
        lines += [f"  {_one(name):<16} {_one(status)}" for name, status in row.exporters.items()]
    lines.append("")
    lines.append("Profile caches")
    for name, entry in row.profile_storage.items():
        mark = "present" if entry.get("present") else "absent"
        lines.append(f"  {_one(name):<16} {mark:<8} {_one(entry.get('path', ''))}")
    if not row.profile_storage:
        lines.append("  (none listed)")
    lines.append("Storage roots")
    lines += [f"  {_one(name):<16} {_one(path)}" for name, path in row.storage_roots.items()] or ["  (none listed)"]
    lines.append("Paths")
    lines.append(f"  manifest         {_one(row.manifest_path)}")
    lines.append(f"  log (host)       {_one(row.log_file)}")
    lines.append(f"  log (container)  {_one(row.container_log_file)}")
    for side in ("host", "container"):
        for key, value in row.paths.get(side, {}).items():
            lines.append(f"  {side}.{_one(key):<14} {_one(value)}")
    return "\n".join(lines)


def _one(value: Any) -> str:
    """Manifest text as one safe line: a newline in a warning must not start a line of
    its own (it could pose as "VALID FOR BENCHMARKING"), nor bidi controls reorder it."""
    return safe(value, 300)
