"""Pylet's workers and instances as immutable rows, read from the head's JSON.

Shapes (pylet 0.5.0, `server.py`): a worker is `{worker_id, host, status, total_resources,
available_resources, available_gpu_indices, last_seen}`; an instance is `{instance_id,
name, command, status, display_status, assigned_to, endpoint, exit_code, failure_reason,
created_at, assigned_at, started_at, ended_at, gpu_indices, labels, ...}`. Times are naive
UTC strings ("2026-12-01 21:58:22"). Free GPUs come from `available_gpu_indices`: Pylet
never decrements `available_resources.gpu_units`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


class PyletReplyError(ValueError):
    """The head answered JSON of a shape Pylet does not produce."""


@dataclass(frozen=True)
class PyletWorkerRow:
    pylet: str  # the pylet target's name
    id: str
    host: str
    status: str  # ONLINE, SUSPECT, OFFLINE
    gpus: str  # "free/total", what the pane shows
    gpus_total: int
    gpus_free: int
    free_gpu_indices: tuple[int, ...]
    cpu_cores: float | None
    memory_bytes: int | None
    last_seen_at: float | None
    instances: int = 0  # non-terminal instances assigned to it


@dataclass(frozen=True)
class PyletInstanceRow:
    pylet: str
    id: str
    name: str
    status: str  # display_status (CANCELLING while a cancel runs), else status
    state: str  # Pylet's own status field
    labels: str  # "k=v, k=v"
    worker: str  # assigned_to: a worker id, "" while PENDING
    gpu_indices: tuple[int, ...]
    endpoint: str
    exit_code: int | None
    failure_reason: str
    in_state_s: float | None  # how long it has been in this state
    model: str = ""  # labels.model_id: the sllm model it serves
    kind: str = ""  # labels.type: inference, sllm-store, ...
    command: str = ""
    created_at: float | None = None
    assigned_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


def parse_time(value: Any) -> float | None:
    """Pylet's naive UTC timestamps (and ISO strings with an offset) as epoch seconds."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def worker_row(item: Any, pylet: str, busy: dict[str, int] | None = None) -> PyletWorkerRow:
    if not isinstance(item, dict) or not item.get("worker_id"):
        raise PyletReplyError(f"worker entry without worker_id: {str(item)[:60]}")
    total = item.get("total_resources") or {}
    free = tuple(int(i) for i in (item.get("available_gpu_indices") or []) if isinstance(i, int))
    gpus_total = int(_number(total.get("gpu_units")) or 0)
    memory = _number(total.get("memory_mb"))
    wid = str(item["worker_id"])
    return PyletWorkerRow(
        pylet=pylet, id=wid, host=str(item.get("host") or ""), status=str(item.get("status") or "?"),
        gpus=f"{len(free)}/{gpus_total}", gpus_total=gpus_total, gpus_free=len(free), free_gpu_indices=free,
        cpu_cores=_number(total.get("cpu_cores")),
        memory_bytes=int(memory * 1024 * 1024) if memory is not None else None,
        last_seen_at=parse_time(item.get("last_seen")), instances=(busy or {}).get(wid, 0),
    )


_STATE_TIME = {"PENDING": "created_at", "ASSIGNED": "assigned_at", "RUNNING": "started_at",
               "COMPLETED": "ended_at", "FAILED": "ended_at", "CANCELLED": "ended_at"}


def instance_row(item: Any, pylet: str, now: float) -> PyletInstanceRow:
    if not isinstance(item, dict) or not item.get("instance_id"):
        raise PyletReplyError(f"instance entry without instance_id: {str(item)[:60]}")
    state = str(item.get("status") or "?")
    times = {k: parse_time(item.get(k)) for k in ("created_at", "assigned_at", "started_at", "ended_at")}
    since = times.get(_STATE_TIME.get(state, ""))
    if since is None:  # UNKNOWN (its worker went away) or a field missing: the latest known step
        since = max((t for t in times.values() if t is not None), default=None)
    labels = item.get("labels") if isinstance(item.get("labels"), dict) else {}
    exit_code = item.get("exit_code")
    return PyletInstanceRow(
        pylet=pylet, id=str(item["instance_id"]), name=str(item.get("name") or ""),
        status=str(item.get("display_status") or state), state=state,
        labels=", ".join(f"{k}={v}" for k, v in sorted(labels.items())),
        worker=str(item.get("assigned_to") or ""),
        gpu_indices=tuple(int(i) for i in (item.get("gpu_indices") or []) if isinstance(i, int)),
        endpoint=str(item.get("endpoint") or ""),
        exit_code=int(exit_code) if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        failure_reason=" ".join(str(item.get("failure_reason") or "").split()),
        in_state_s=max(0.0, now - since) if since is not None else None,
        model=str(labels.get("model_id") or ""), kind=str(labels.get("type") or ""),
        command=str(item.get("command") or ""), **times,
    )


def parse_workers(doc: Any, pylet: str, instances: tuple[PyletInstanceRow, ...] = ()) -> tuple[PyletWorkerRow, ...]:
    if not isinstance(doc, list):
        raise PyletReplyError("GET /workers is not a list")
    busy: dict[str, int] = {}
    for inst in instances:
        if inst.worker and not inst.terminal:
            busy[inst.worker] = busy.get(inst.worker, 0) + 1
    return tuple(worker_row(item, pylet, busy) for item in doc)


def parse_instances(doc: Any, pylet: str, now: float) -> tuple[PyletInstanceRow, ...]:
    if not isinstance(doc, list):
        raise PyletReplyError("GET /instances is not a list")
    return tuple(instance_row(item, pylet, now) for item in doc)
