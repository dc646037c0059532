"""`status --json`: one snapshot of every backend as a JSON document."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import IO, Any, Mapping

from servedeck.backends.base import Snapshot
from servedeck.secrets import redact


def backend_entry(snap: Snapshot) -> dict[str, Any]:
    state = snap.state
    return {
        "name": snap.backend,
        "kind": snap.kind,
        "state": state.health.value,
        "error": state.message or None,
        "hint": state.hint or None,
        "latency_ms": state.latency_ms,
        "since": state.since,
    }


def row_dict(backend: str, row: Any) -> dict[str, Any]:
    data = dataclasses.asdict(row) if dataclasses.is_dataclass(row) else dict(row)
    return {"backend": backend, **data}


def snapshot_document(snapshots: Mapping[str, Snapshot]) -> dict[str, Any]:
    """`backends` plus one key per pane kind, rows merged across backends."""
    doc: dict[str, Any] = {"backends": [backend_entry(s) for s in snapshots.values()]}
    for snap in snapshots.values():
        for pane, rows in snap.panes.items():
            doc.setdefault(pane, []).extend(row_dict(snap.backend, r) for r in rows)
    return doc


def _default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def write_json(document: Mapping[str, Any], out: IO[str]) -> None:
    out.write(redact(json.dumps(document, indent=2, default=_default, sort_keys=False)))
    out.write("\n")
