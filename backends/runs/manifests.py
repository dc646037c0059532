"""Helper-container run manifests: the pointer file, the manifest JSON, the warning taxonomy.

`init-run.sh` (servedeck/helper/) writes one manifest per container lifetime and a
pointer file naming the current one. Readers must survive every state a file can be
in while another process writes or deletes it, so parsing never raises: a manifest
that cannot be read becomes a `Manifest` with `problem` set and a state saying why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from servedeck import bounded

POINTER_FILE = "container_run_meta.env"
POINTER_KEY = "CONTAINER_RUN_META_JSON"
POINTER_HOST_KEY = "CONTAINER_RUN_META_JSON_HOST"
RUN_ID_PATTERN = re.compile(r"^container-run-[0-9TZ]+-[0-9a-z]+$")
# init-run.sh writes a few kB; the caps keep a runaway or hostile file from costing the
# cockpit memory or a traceback (it shows as `malformed` with the reason instead).
MAX_MANIFEST_BYTES = 1 * bounded.MIB
MAX_POINTER_BYTES = 64 * 1024
MAX_MANIFEST_DEPTH = 32


# -- the warning taxonomy (seed 000): the exact strings, what they mean, what to do ------

@dataclass(frozen=True)
class KnownWarning:
    template: str  # the exact text, with <path> / <list> where init-run.sh fills a value
    meaning: str
    remedy: str

    @property
    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"(<path>|<list>)", self.template)
        body = "".join(".+?" if p in ("<path>", "<list>") else re.escape(p) for p in parts)
        return re.compile(f"^{body}$")


TAXONOMY: tuple[KnownWarning, ...] = (
    KnownWarning(
        "dcgm-exporter binary not found at <path>; skipping capability grant",
        "The image has no dcgm-exporter, so no GPU metrics (DCGM_FI_*) are collected for this run.",
        "Use a helper image that ships dcgm-exporter, or set DCGM_EXPORTER_BIN to where it is.",
    ),
    KnownWarning(
        "setcap not available; ensure dcgm-exporter has cap_sys_admin",
        "The init script could not grant dcgm-exporter CAP_SYS_ADMIN; profiling (DCGM_FI_PROF_*) metrics may be missing.",
        "Install libcap2-bin in the image, or start the container with --cap-add SYS_ADMIN.",
    ),
    KnownWarning(
        "dcgm-exporter capability self-check failed; profiling metrics may be unavailable",
        "dcgm-exporter runs without the capability it needs for profiling metrics.",
        "Start the container with --cap-add SYS_ADMIN and check `getcap` on the dcgm-exporter binary.",
    ),
    KnownWarning(
        "unable to set cap_sys_admin on <path>; start container with --cap-add SYS_ADMIN",
        "setcap refused to grant the capability (the container lacks SYS_ADMIN itself).",
        "Add SYS_ADMIN to the container (extra_args: [--cap-add, SYS_ADMIN]) and restart it.",
    ),
    KnownWarning(
        "nv-hostengine already running (pids: <list>)",
        "A DCGM host engine was already running; dcgm-exporter talks to that one, whose settings this run does not control.",
        "Stop the stray nv-hostengine (or the other container running it) and restart the helper container.",
    ),
    KnownWarning(
        "nv-hostengine failed to start; dcgm metrics may be degraded",
        "The DCGM host engine is absent or exited, so DCGM metrics are partial or missing.",
        "Check the run log for nv-hostengine errors; the image needs DCGM and the container GPU access.",
    ),
    KnownWarning(
        "node_exporter failed to start",
        "No host metrics (CPU, memory, load) are collected for this run.",
        "Check the run log for node_exporter errors (port 9100 taken?) and restart the container.",
    ),
    KnownWarning(
        "dcgm-exporter failed to start",
        "No GPU metrics are collected for this run.",
        "Check the run log for dcgm-exporter errors (port 9400 taken? GPU visible?) and restart the container.",
    ),
)

_PATTERNS = tuple((w, w.pattern) for w in TAXONOMY)


@dataclass(frozen=True)
class ExplainedWarning:
    text: str
    known: KnownWarning | None  # None: not in the taxonomy (shown as unknown, never dropped)


def explain(text: str) -> ExplainedWarning:
    for known, pattern in _PATTERNS:
        if pattern.match(text):
            return ExplainedWarning(text, known)
    return ExplainedWarning(text, None)


# -- the pointer file ----------------------------------------------------------------

@dataclass(frozen=True)
class Pointer:
    container_path: str = ""
    host_path: str = ""
    problem: str = ""  # the file exists but says nothing usable

    @property
    def empty(self) -> bool:
        return not (self.container_path or self.host_path)

    def resolve(self, host_root: Path) -> Path | None:
        """The manifest on this host: the host path when given, else the container path
        mapped below `host_root` (the host directory mounted at /telemetry/container_runs)."""
        if self.host_path:
            return Path(self.host_path)
        if self.container_path:
            return host_root / Path(self.container_path).name
        return None


def read_pointer(path: Path) -> Pointer:
    """The pointer file's two keys; a missing or empty file is an empty pointer."""
    try:
        text = bounded.read_text(path, MAX_POINTER_BYTES, "the pointer file")
    except bounded.InputRejected as exc:
        return Pointer(problem=f"{path}: {exc}")
    except FileNotFoundError:
        return Pointer()
    except OSError as exc:
        return Pointer(problem=f"cannot read {path}: {exc.strerror or exc}")
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in (POINTER_KEY, POINTER_HOST_KEY):
            values[key] = value.strip().strip("'\"")
    pointer = Pointer(values.get(POINTER_KEY, ""), values.get(POINTER_HOST_KEY, ""))
    if pointer.empty and text.strip():
        return Pointer(problem=f"{path} names no {POINTER_KEY}")
    return pointer


# -- the manifest --------------------------------------------------------------------

MANIFEST_STATES = ("ok", "malformed", "half-written", "missing", "unreadable")


@dataclass(frozen=True)
class Manifest:
    path: Path
    run_id: str
    state: str  # one of MANIFEST_STATES
    problem: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w if isinstance(w, str) else json.dumps(w) for w in self.data.get("warnings") or ())

    @property
    def started(self) -> str:
        return text_at(self.data, "started")

    @property
    def started_epoch(self) -> float | None:
        value = self.data.get("started_epoch")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return datetime.fromisoformat(self.started.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            return None

    @property
    def surfaces(self) -> dict[str, str]:
        """Surface name -> status (`running`, `failed`, `absent`, `expected`...)."""
        out: dict[str, str] = {}
        for name, entry in (self.data.get("telemetry_surfaces") or {}).items():
            status = entry.get("status") if isinstance(entry, dict) else entry
            out[str(name)] = str(status or "unknown")
        return out

    @property
    def log_file(self) -> str:
        """The run log as the container sees it (`storage.log_file`)."""
        return text_at(self.data, "storage", "log_file")

    def host_path(self, key: str) -> str:
        return text_at(self.data, "paths", "host", key)

    def container_path(self, key: str) -> str:
        return text_at(self.data, "paths", "container", key)


def text_at(data: Any, *keys: str) -> str:
    """The scalar at data[k1][k2]...; "" when a level is missing or not a mapping, or the
    value is not a scalar (a hostile manifest must never raise here)."""
    for key in keys:
        if not isinstance(data, dict):
            return ""
        data = data.get(key)
    if data is None or isinstance(data, (dict, list)):
        return ""
    return str(data)


def run_id_from(path: Path) -> str:
    return path.name[:-5] if path.name.endswith(".json") else path.name


def parse_manifest(path: Path, text: str) -> Manifest:
    """Classify the text of one manifest file; never raises."""
    run_id = run_id_from(path)
    if not text.strip():
        return Manifest(path, run_id, "half-written", "the file is empty (still being written?)")
    try:
        data = json.loads(text, parse_constant=bounded.reject_constant)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or "Unterminated" in exc.msg:
            return Manifest(path, run_id, "half-written", f"the JSON ends early at line {exc.lineno} (still being written?)")
        return Manifest(path, run_id, "malformed", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
    except RecursionError:
        return Manifest(path, run_id, "malformed", f"the JSON nests deeper than {MAX_MANIFEST_DEPTH} levels")
    except ValueError as exc:  # NaN / Infinity
        return Manifest(path, run_id, "malformed", f"invalid JSON: {exc}")
    try:
        bounded.check_depth(data, MAX_MANIFEST_DEPTH, "the JSON")
    except bounded.InputRejected as exc:
        return Manifest(path, run_id, "malformed", str(exc))
    if not isinstance(data, dict):
        return Manifest(path, run_id, "malformed", f"the manifest is a JSON {type(data).__name__}, not an object")
    shape = _shape_problem(data)
    if shape:
        return Manifest(path, run_id, "malformed", shape, data)
    return Manifest(path, str(data.get("run_id") or run_id), "ok", "", data)


def _shape_problem(data: dict[str, Any]) -> str:
    for key, kind in (("telemetry_surfaces", dict), ("warnings", list), ("paths", dict), ("storage", dict)):
        if key not in data:
            return f"the manifest has no `{key}`"
        if not isinstance(data[key], kind):
            return f"`{key}` is a {type(data[key]).__name__}, expected a {kind.__name__}"
    return ""


def read_manifest(path: Path) -> Manifest:
    try:
        text = bounded.read_text(path, MAX_MANIFEST_BYTES, "the manifest")
    except bounded.InputRejected as exc:
        return Manifest(path, run_id_from(path), "malformed", str(exc))
    except FileNotFoundError:
        return Manifest(path, run_id_from(path), "missing", "the manifest file does not exist (deleted?)")
    except OSError as exc:
        return Manifest(path, run_id_from(path), "unreadable", f"cannot read it: {exc.strerror or exc}")
    return parse_manifest(path, text)


class ManifestCache:
    """Re-parses a manifest only when its size or mtime changed: polls stay cheap with a
    long history, while a half-written file is read again as soon as it grows."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[tuple[int, int], Manifest]] = {}

    def get(self, path: Path) -> Manifest:
        try:
            st = path.stat()
        except FileNotFoundError:
            self._seen.pop(path, None)
            return read_manifest(path)
        except OSError as exc:
            return Manifest(path, run_id_from(path), "unreadable", f"cannot stat it: {exc.strerror or exc}")
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._seen.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        manifest = read_manifest(path)
        self._seen[path] = (stamp, manifest)
        return manifest

    def forget_except(self, keep: set[Path]) -> None:
        for path in [p for p in self._seen if p not in keep]:
            del self._seen[path]
