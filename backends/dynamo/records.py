"""Build records on disk: how a build started by `servedeck dynamo build` shows in the
Builds pane of a cockpit running in another process.

Under the state dir (`dynamo/` in servedeck's state dir unless configured):
- `builds/<id>.json`: the build's current record, replaced atomically (write + rename);
- `builds/<id>.log`: its full log, appended as it streams (the logs pane follows it);
- `builds/<id>.cancel`: a cancel request; the building process watches for it;
- `history.jsonl`: one line per finished build, appended once (the history kept).
A record whose building process is gone while it says running reads as `lost`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

RUNNING_STATES = ("queued", "running")
HISTORY_FILE = "history.jsonl"
HISTORY_LIMIT = 500  # newest finished builds read back from the history


def default_state_dir() -> Path:
    base = os.environ.get("SERVEDECK_STATE_DIR") or os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base else Path("~/.local/state").expanduser()
    return (root if os.environ.get("SERVEDECK_STATE_DIR") else root / "servedeck") / "dynamo"


@dataclass
class BuildRecord:
    id: str
    invocation: str  # one build.sh run: its builds are grouped
    seq: int  # 1-based place in the chain (base -> framework -> local-dev)
    count: int  # builds in the chain
    role: str
    framework: str
    target: str
    tag: str  # the main tag
    tags: list[str]
    base: str
    host: str  # the docker target's name
    url: str
    command: str  # the docker build line, tokens masked
    via: str = ""  # engine-api | buildkit-cli
    state: str = "queued"  # queued running done failed cancelled skipped lost
    step: int = 0
    steps: int = 0
    cache_hits: int = 0
    current: str = ""  # the step running now
    started_at: float | None = None
    finished_at: float | None = None
    error: str = ""
    error_step: str = ""
    last_lines: list[str] = field(default_factory=list)
    image_id: str = ""
    pid: int = 0
    pid_start: float | None = None
    log_lines: int = 0

    @property
    def finished(self) -> bool:
        return self.state not in RUNNING_STATES

    @classmethod
    def from_dict(cls, data: dict) -> "BuildRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _process_start(pid: int) -> float | None:
    try:
        return float(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


class BuildStore:
    """Reads and writes the records of one state dir (any process, any thread)."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root else default_state_dir()
        self.builds = self.root / "builds"

    def ensure(self) -> None:
        self.builds.mkdir(parents=True, exist_ok=True)

    def log_path(self, build_id: str) -> Path:
        return self.builds / f"{build_id}.log"

    def cancel_path(self, build_id: str) -> Path:
        return self.builds / f"{build_id}.cancel"

    def save(self, record: BuildRecord) -> None:
        self.ensure()
        path = self.builds / f"{record.id}.json"
        tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(record)))
        os.replace(tmp, path)

    def finish(self, record: BuildRecord) -> None:
        """Save the final record and append it to the history (once)."""
        self.save(record)
        with open(self.root / HISTORY_FILE, "a") as f:
            f.write(json.dumps(dataclasses.asdict(record)) + "\n")

    def claim(self, record: BuildRecord) -> None:
        record.pid = os.getpid()
        record.pid_start = _process_start(record.pid)

    def request_cancel(self, build_id: str) -> bool:
        record = self.load(build_id)
        if record is None or record.finished:
            return False
        self.ensure()
        self.cancel_path(build_id).write_text(str(time.time()))
        return True

    def cancel_requested(self, build_id: str) -> bool:
        return self.cancel_path(build_id).exists()

    def load(self, build_id: str) -> BuildRecord | None:
        try:
            return self._alive(BuildRecord.from_dict(json.loads((self.builds / f"{build_id}.json").read_text())))
        except (OSError, ValueError, TypeError):
            return None

    def _alive(self, record: BuildRecord) -> BuildRecord:
        if record.finished or not record.pid:
            return record
        if _process_start(record.pid) != record.pid_start:
            record.state = "lost"
            record.error = record.error or "the building process ended without finishing this build"
        return record

    def records(self) -> list[BuildRecord]:
        """Every build known: current records, plus history lines whose record was pruned."""
        found: dict[str, BuildRecord] = {}
        try:
            lines = (self.root / HISTORY_FILE).read_text().splitlines()[-HISTORY_LIMIT:]
        except OSError:
            lines = []
        for line in lines:
            try:
                rec = BuildRecord.from_dict(json.loads(line))
            except (ValueError, TypeError):
                continue  # a line cut by a crash: skip it, keep the rest
            found[rec.id] = rec
        try:
            paths = list(self.builds.glob("*.json"))
        except OSError:
            paths = []
        for path in paths:
            try:
                rec = self._alive(BuildRecord.from_dict(json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):
                continue
            found[rec.id] = rec
        return sorted(found.values(), key=lambda r: (r.invocation, r.seq))

    def history(self) -> list[BuildRecord]:
        return [r for r in self.records() if r.finished]


def new_invocation_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{os.getpid() % 100000:05d}-{time.time_ns() % 1000:03d}"


def chain_records(builds: Iterable, invocation: str, host: str, url: str) -> list[BuildRecord]:
    builds = list(builds)
    out = []
    for i, b in enumerate(builds, 1):
        tags = list(b.tags)
        out.append(BuildRecord(id=f"{invocation}-{i}", invocation=invocation, seq=i, count=len(builds), role=b.role,
                               framework=b.framework, target=b.target, tag=tags[0] if tags else "", tags=tags,
                               base=b.base, host=host, url=url, command=b.line()))
    return out
