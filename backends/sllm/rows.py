"""The sllm head's answers (ServerlessLLM v1-beta at 28fffaf) as immutable rows.

`/health` -> `{status, version, pylet_connected}`; `/status` -> `{models: [{id, status,
desired_replicas, ready_replicas, starting_replicas, instances: [{id, node, endpoint,
status}]}], nodes: [{name, host, status, total_gpus, available_gpus, sllm_store_endpoint,
cached_models}]}`; `/v1/models` -> `{object: list, models: [{id, model, backend, status,
desired_replicas, ready_replicas, min_replicas, max_replicas}]}`. Later heads say
`deployments` and `data` instead; both spellings are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SllmReplyError(ValueError):
    """The head answered JSON of a shape the sllm head does not produce."""


@dataclass(frozen=True)
class SllmHeadRow:
    sllm: str
    url: str
    status: str
    version: str
    pylet_connected: bool | None
    models: int
    nodes: int


@dataclass(frozen=True)
class SllmModelRow:
    sllm: str
    id: str  # "facebook/opt-125m:vllm"
    status: str  # active, deleting, "deleting (stuck 2m10s)", "flapping 0↔1"
    state: str  # the head's own status field
    backend: str
    replicas: str  # "ready/desired (+starting)"
    desired: int | None
    ready: int | None
    starting: int | None
    min_replicas: int | None
    max_replicas: int | None
    endpoints: tuple[str, ...]
    instances: tuple[str, ...] = ()  # Pylet instance names serving it
    pylet_states: tuple[str, ...] = ()  # their Pylet states, in the same order
    workers: tuple[str, ...] = ()  # the Pylet workers they run on (short ids)
    problem: str = ""  # what is wrong, in one line


@dataclass(frozen=True)
class SllmNodeRow:
    sllm: str
    id: str  # the node name: a Pylet worker id
    host: str
    status: str
    gpus: str  # "available/total"
    total_gpus: int | None
    available_gpus: int | None
    sllm_store_endpoint: str
    cached_models: tuple[str, ...]


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _list(doc: Any, *keys: str) -> list:
    if not isinstance(doc, dict):
        raise SllmReplyError("not a JSON object")
    for key in keys:
        if isinstance(doc.get(key), list):
            return doc[key]
    raise SllmReplyError(f"no {' or '.join(keys)} list")


def head_row(health: Any, name: str, url: str, models: int, nodes: int) -> SllmHeadRow:
    if not isinstance(health, dict):
        raise SllmReplyError("/health is not a JSON object")
    connected = health.get("pylet_connected")
    return SllmHeadRow(sllm=name, url=url, status=str(health.get("status") or "?"),
                       version=str(health.get("version") or ""),
                       pylet_connected=connected if isinstance(connected, bool) else None,
                       models=models, nodes=nodes)


@dataclass(frozen=True)
class ModelFacts:
    """One model as /status and /v1/models tell it, before joining Pylet's view."""

    id: str
    state: str
    backend: str
    desired: int | None
    ready: int | None
    starting: int | None
    min_replicas: int | None
    max_replicas: int | None
    endpoints: tuple[str, ...]
    nodes: tuple[str, ...]


def model_facts(status: Any, listed: Any) -> list[ModelFacts]:
    catalog = {str(m.get("id")): m for m in _list(listed, "models", "data") if isinstance(m, dict)}
    out = []
    for item in _list(status, "models", "deployments"):
        if not isinstance(item, dict) or not item.get("id"):
            raise SllmReplyError(f"model entry without id: {str(item)[:60]}")
        mid = str(item["id"])
        info = catalog.get(mid, {})
        instances = [i for i in item.get("instances") or [] if isinstance(i, dict)]
        backend = str(info.get("backend") or (mid.rsplit(":", 1)[1] if ":" in mid else ""))
        out.append(ModelFacts(
            id=mid, state=str(item.get("status") or info.get("status") or "?"), backend=backend,
            desired=_int(item.get("desired_replicas")), ready=_int(item.get("ready_replicas")),
            starting=_int(item.get("starting_replicas")),
            min_replicas=_int(info.get("min_replicas")), max_replicas=_int(info.get("max_replicas")),
            endpoints=tuple(str(i.get("endpoint") or "") for i in instances if i.get("endpoint")),
            nodes=tuple(str(i.get("node") or "") for i in instances if i.get("node")),
        ))
    for mid, info in catalog.items():  # listed but not in /status (a head between two updates)
        if mid not in {m.id for m in out}:
            out.append(ModelFacts(mid, str(info.get("status") or "?"), str(info.get("backend") or ""),
                                  _int(info.get("desired_replicas")), _int(info.get("ready_replicas")), None,
                                  _int(info.get("min_replicas")), _int(info.get("max_replicas")), (), ()))
    return out


def node_rows(status: Any, name: str) -> tuple[SllmNodeRow, ...]:
    rows = []
    for item in (status.get("nodes") or []) if isinstance(status, dict) else []:
        if not isinstance(item, dict):
            continue
        total, free = _int(item.get("total_gpus")), _int(item.get("available_gpus"))
        cached = item.get("cached_models") or []
        rows.append(SllmNodeRow(
            sllm=name, id=str(item.get("name") or ""), host=str(item.get("host") or ""),
            status=str(item.get("status") or "?"),
            gpus=f"{'?' if free is None else free}/{'?' if total is None else total}",
            total_gpus=total, available_gpus=free,
            sllm_store_endpoint=str(item.get("sllm_store_endpoint") or ""),
            cached_models=tuple(str(c) for c in cached) if isinstance(cached, list) else (),
        ))
    return tuple(rows)


def error_in_body(doc: Any) -> str:
    """The error an answer carries whatever its HTTP status ("" when none): the head's
    router relays a backend's error JSON with status 200."""
    if not isinstance(doc, dict):
        return ""
    err = doc.get("error")
    if isinstance(err, dict):
        return " ".join(str(err.get("message") or err).split())
    if err:
        return " ".join(str(err).split())
    if doc.get("object") == "error":
        return " ".join(str(doc.get("message") or "error").split())
    if "detail" in doc and "choices" not in doc:
        return " ".join(str(doc["detail"]).split())
    return ""
