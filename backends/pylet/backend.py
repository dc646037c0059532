"""The Pylet backend: workers and instances of a Pylet head (pylet 0.5.0's HTTP API).

The head has no `/health` (404): reachability is `GET /workers`. One poll asks for
`/instances` and then `/workers` (instance counts per worker come from the first).
Actions map Pylet's own refusals to one line: 400 "already in terminal state" on cancel,
400 when a worker is not OFFLINE, 500 (a sqlite FOREIGN KEY error) when an offline worker
still has instances.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping
from urllib.parse import quote

from pydantic import Field

from servedeck.backends.base import (
    Action,
    ActionResult,
    Backend,
    BackendContext,
    BackendError,
    BackendSettings,
    Column,
    OpenLog,
    PaneSpec,
    PartialPoll,
    Rows,
)
from servedeck.backends.lazy import lazy
from servedeck.backends.pylet.client import HeadError, JsonHead
from servedeck.backends.pylet.links import JumpTo
from servedeck.backends.pylet.logsource import PyletLogSource
from servedeck.backends.pylet.rows import PyletReplyError, parse_instances, parse_workers

httpx = lazy("httpx")  # loaded in the first poll, not before the first frame

HINT = "start the Pylet head (`pylet start --port P`) or set backends.pylet[].url"


class PyletSettings(BackendSettings):
    url: str = Field(description="Pylet head base URL, e.g. http://127.0.0.1:8000.")
    timeout: float = Field(default=5.0, gt=0, description="Seconds one request may take.")


WORKERS = PaneSpec(
    key="pylet_workers", title="Pylet workers",
    columns=(
        Column("pylet", "Pylet", 8),
        Column("id", "Worker", 36),
        Column("host", "Host", 15),
        Column("status", "Status", 8),
        Column("gpus", "GPUs free", 9),
        Column("cpu_cores", "CPU", 5),
        Column("memory_bytes", "Memory", 9),
        Column("instances", "Inst", 4),
        Column("last_seen_at", "Last seen", 10),
    ),
    aliases=("pw", "pylet", "pyletworkers"), order=115,
)

INSTANCES = PaneSpec(
    key="pylet_instances", title="Pylet instances",
    columns=(
        Column("name", "Name", 26),
        Column("status", "Status", 10),
        Column("in_state_s", "In state", 8),
        Column("worker", "Worker", 8),
        Column("gpu_indices", "GPUs", 5),
        Column("endpoint", "Endpoint", 16),
        Column("exit_code", "Exit", 4),
        Column("failure_reason", "Failure", 18),
        Column("labels", "Labels", 34),
        Column("id", "ID", 36),
    ),
    aliases=("pi", "pinst", "pyletinstances"), order=116,
)


class PyletBackend(Backend):
    kind = "pylet"
    settings_model = PyletSettings
    default_interval = 2.0
    panes = (WORKERS, INSTANCES)
    log_kinds = ("pylet",)
    actions = (
        Action("instance.cancel", "Cancel instance", "pylet_instances", confirm=True, key="c"),
        Action("instance.delete", "Delete instance", "pylet_instances", confirm=True, key="x"),
        Action("instance.logs", "Follow instance logs", "pylet_instances", mutating=False, key="l"),
        Action("instance.worker", "Go to its worker", "pylet_instances", mutating=False, key="w"),
        Action("instance.model", "Go to its model", "pylet_instances", mutating=False, key="m"),
        Action("worker.delete", "Delete offline worker", "pylet_workers", confirm=True, key="x"),
    )

    settings: PyletSettings

    def __init__(self, settings: PyletSettings, context: BackendContext | None = None,
                 transport: httpx.BaseTransport | None = None, clock: Callable[[], float] = time.time):
        super().__init__(settings, context)
        self.clock = clock  # "age in state" is measured against it
        self.head = JsonHead(settings.url, "pylet head", timeout=settings.timeout, hint=HINT, transport=transport)

    # -- polling -----------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        if not wanted & {"pylet_workers", "pylet_instances"}:
            self.head.call("GET", "/workers")  # the head has no /health
            return {}
        try:
            instances = parse_instances(self.head.json("GET", "/instances"), self.name, self.clock())
            workers = parse_workers(self.head.json("GET", "/workers"), self.name, instances)
        except PyletReplyError as exc:
            raise BackendError(f"pylet head at {self.head.url} answered something unexpected ({exc})",
                               hint="is this a Pylet 0.5 head?", reachable=True) from None
        panes = {"pylet_workers": workers, "pylet_instances": instances}
        gone = [w for w in workers if w.status != "ONLINE"]
        if gone:
            named = ", ".join(f"{w.id[:8]} {w.status}" for w in gone[:3])
            raise PartialPoll(panes, f"{len(gone)} of {len(workers)} Pylet workers not online: {named}",
                              hint="check the worker processes; OFFLINE ones with no instances can be deleted")
        return panes

    # -- actions -----------------------------------------------------------------------

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        ident = str(getattr(row, "id", "") or "")
        label = str(getattr(row, "name", "") or ident[:8])
        if action_id == "instance.logs":
            source = PyletLogSource(self.head, ident, f"pylet/{label}")
            return ActionResult(True, f"following {label}", follow_up=OpenLog(source, source.name))
        if action_id == "instance.worker":
            worker = str(getattr(row, "worker", "") or "")
            if not worker:
                return ActionResult(False, f"{label} is not assigned to a worker yet")
            return ActionResult(True, f"worker {worker[:8]}", follow_up=JumpTo("pylet_workers", "id", worker))
        if action_id == "instance.model":
            model = str(getattr(row, "model", "") or "")
            if not model:
                return ActionResult(False, f"{label} serves no model (labels: {getattr(row, 'labels', '') or 'none'})")
            return ActionResult(True, f"model {model}", follow_up=JumpTo("sllm_models", "id", model))
        try:
            if action_id == "instance.cancel":
                return self.cancel(ident)
            if action_id == "instance.delete":
                return self.delete_instance(ident)
            if action_id == "worker.delete":
                return self.delete_worker(ident)
        except HeadError as exc:
            return ActionResult(False, self._refusal(action_id, label, exc))
        return super().perform(action_id, row, value)

    def _refusal(self, action_id: str, label: str, exc: HeadError) -> str:
        if action_id == "worker.delete" and exc.status == 500:
            return (f"pylet refused to delete worker {label}: it still has instances "
                    "(delete or cancel them first)")
        if exc.status == 404:
            return f"pylet: {label} not found (already deleted?)"
        return f"pylet refused: {exc.detail}"

    def cancel(self, instance_id: str) -> ActionResult:
        doc = self.head.json("POST", f"/instances/{quote(instance_id, safe='')}/cancel")
        self.request_poll()
        said = doc.get("status") if isinstance(doc, dict) else ""
        return ActionResult(True, f"instance {instance_id[:8]}: {said or 'cancelling'}")

    def delete_instance(self, instance_id: str) -> ActionResult:
        self.head.call("DELETE", f"/instances/{quote(instance_id, safe='')}")
        self.request_poll()
        return ActionResult(True, f"instance {instance_id[:8]} deleted")

    def delete_worker(self, worker_id: str) -> ActionResult:
        self.head.call("DELETE", f"/workers/{quote(worker_id, safe='')}")
        self.request_poll()
        return ActionResult(True, f"worker {worker_id[:8]} deleted")

    def find_instance(self, ref: str):
        """An instance row by id, id prefix or name (verbs take any of them)."""
        rows = parse_instances(self.head.json("GET", "/instances"), self.name, self.clock())
        exact = [r for r in rows if ref in (r.id, r.name)]
        if exact:
            return exact[0]
        prefixed = [r for r in rows if r.id.startswith(ref)]
        return prefixed[0] if len(prefixed) == 1 else None

    def log_source(self, kind: str, name: str):
        if kind != "pylet":
            return None
        row = self.find_instance(name)
        if row is None:
            return None
        return PyletLogSource(self.head, row.id, f"pylet/{row.name or row.id}")

    def close(self) -> None:
        self.head.close()
