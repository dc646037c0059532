"""The sllm backend: a ServerlessLLM v1-beta head (`sllm start head`, port 8343).

One poll reads `/health`, `/status` and `/v1/models`, and (when `pylet_url` is set)
Pylet's instances, to join each model to the instances serving it and their workers.
`pylet_connected: false` is a degraded head: it runs no reconciler, so no cold start can
happen until it is restarted with Pylet up.
"""

from __future__ import annotations

import time
from typing import Any, Mapping
from urllib.parse import quote

from pydantic import Field

from servedeck.backends.lazy import lazy
from servedeck.backends.base import (
    Action,
    ActionResult,
    Backend,
    BackendContext,
    BackendError,
    BackendSettings,
    Column,
    PaneSpec,
    PartialPoll,
    Rows,
    ShowText,
)
from servedeck.backends.pylet.client import HeadError, JsonHead
from servedeck.backends.pylet.rows import PyletInstanceRow, PyletReplyError, parse_instances
from servedeck.backends.sllm import coldstart
from servedeck.backends.sllm.register import PROMPT, RegisterInputError, Registration, parse_prompt
from servedeck.backends.sllm.rows import (
    ModelFacts,
    SllmModelRow,
    SllmReplyError,
    error_in_body,
    head_row,
    model_facts,
    node_rows,
)
from servedeck.backends.sllm.watch import ModelWatch

httpx = lazy("httpx")  # loaded by the first poll, in its thread, not before the first frame

HINT = "start the sllm head (`sllm start head --port 8343 --pylet-endpoint URL`) or set backends.sllm[].url"


class SllmSettings(BackendSettings):
    url: str = Field(description="sllm head base URL, e.g. http://127.0.0.1:8343.")
    pylet_url: str | None = Field(
        default=None, description="The Pylet head it drives, to join models to instances and time cold starts."
    )
    timeout: float = Field(default=5.0, gt=0, description="Seconds one status request may take.")
    chat_timeout: float = Field(default=150.0, gt=0, description="Seconds a test request may take (cold start included).")
    test_prompt: str = Field(default="Hello!", description="What the cockpit's test request asks.")


MODELS = PaneSpec(
    key="sllm_models", title="sllm models",
    columns=(
        Column("id", "Model", 24),
        Column("status", "Status", 16),
        Column("replicas", "Ready/want", 10),
        Column("starting", "Start", 5),
        Column("min_replicas", "Min", 3),
        Column("max_replicas", "Max", 3),
        Column("instances", "Pylet instances", 26),
        Column("pylet_states", "Pylet", 9),
        Column("workers", "Workers", 8),
        Column("endpoints", "Endpoints", 15),
        Column("problem", "Problem", 30),
        Column("sllm", "Head", 8),
    ),
    aliases=("sm", "sllm", "models", "serverlessllm"), order=118,
)

NODES = PaneSpec(
    key="sllm_nodes", title="sllm nodes",
    columns=(
        Column("id", "Node (Pylet worker)", 36),
        Column("host", "Host", 15),
        Column("status", "Status", 8),
        Column("gpus", "GPUs free", 9),
        Column("sllm_store_endpoint", "sllm-store", 18),
        Column("cached_models", "Cached models", 30),
        Column("sllm", "Head", 8),
    ),
    aliases=("sn", "sllmnodes"), order=119,
)

HEADS = PaneSpec(
    key="sllm_heads", title="sllm heads",
    columns=(
        Column("sllm", "Head", 10),
        Column("url", "URL", 26),
        Column("status", "Status", 8),
        Column("version", "Version", 10),
        Column("pylet_connected", "Pylet", 6),
        Column("models", "Models", 6),
        Column("nodes", "Nodes", 5),
    ),
    row_key="sllm", aliases=("sh", "sllmheads"), order=117,
)


class SllmBackend(Backend):
    kind = "sllm"
    settings_model = SllmSettings
    default_interval = 2.0
    panes = (HEADS, MODELS, NODES)
    actions = (
        Action("model.register", "Register model", "sllm_models", key="a", needs_row=False, prompt=PROMPT),
        Action("model.delete", "Delete model", "sllm_models", confirm=True, key="x"),
        Action("model.chat", "Test request (cold-start timeline)", "sllm_models", mutating=False, key="t"),
    )

    settings: SllmSettings

    def __init__(self, settings: SllmSettings, context: BackendContext | None = None,
                 transport: httpx.BaseTransport | None = None, pylet_transport: httpx.BaseTransport | None = None):
        super().__init__(settings, context)
        self.head = JsonHead(settings.url, "sllm head", timeout=settings.timeout, hint=HINT, transport=transport)
        self.pylet = (JsonHead(settings.pylet_url, "pylet head", timeout=settings.timeout, transport=pylet_transport)
                      if settings.pylet_url else None)
        self.watch = ModelWatch()

    # -- polling -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        doc = self.head.json("GET", "/health")
        if not isinstance(doc, dict):
            raise BackendError(f"sllm head at {self.head.url}: /health is not a JSON object", reachable=True)
        return doc

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        health = self.health()
        problems = []
        if health.get("pylet_connected") is not True:
            problems.append("sllm head reports pylet_connected: false (no reconciler runs: restart the head "
                            "once Pylet is up)")
        panes: dict[str, Rows] = {}
        if wanted & {m.key for m in self.panes}:
            try:
                status = self.head.json("GET", "/status")
                listed = self.head.json("GET", "/v1/models")
                facts = model_facts(status, listed)
                nodes = node_rows(status, self.name)
            except SllmReplyError as exc:
                raise BackendError(f"sllm head at {self.head.url} answered something unexpected ({exc})",
                                   hint="is this a v1-beta head (28fffaf API)?", reachable=True) from None
            instances, pylet_problem = self._pylet_instances()
            if pylet_problem:
                problems.append(pylet_problem)
            models = self._model_rows(facts, instances)
            panes = {
                "sllm_heads": (head_row(health, self.name, self.head.url, len(models), len(nodes)),),
                "sllm_models": models,
                "sllm_nodes": nodes,
            }
            bad = [m for m in models if m.problem]
            if bad:
                problems.append(f"{bad[0].id}: {bad[0].status}" + (f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""))
        if problems:
            raise PartialPoll(panes, "; ".join(problems), hint="see the sllm models pane's Problem column")
        return panes

    def _pylet_instances(self) -> tuple[tuple[PyletInstanceRow, ...], str]:
        if self.pylet is None:
            return (), ""
        try:
            return parse_instances(self.pylet.json("GET", "/instances"), "", time.time()), ""
        except (BackendError, PyletReplyError) as exc:
            return (), f"Pylet instances unavailable ({getattr(exc, 'message', exc)})"

    def _model_rows(self, facts: list[ModelFacts], instances: tuple[PyletInstanceRow, ...]) -> tuple[SllmModelRow, ...]:
        now = time.monotonic()
        rows = []
        for f in facts:
            serving = [i for i in instances if i.model == f.id and not i.terminal]
            status, problem = self.watch.observe(f.id, f.state, f.desired, f.ready, now)
            rows.append(SllmModelRow(
                sllm=self.name, id=f.id, status=status, state=f.state, backend=f.backend,
                replicas=f"{'?' if f.ready is None else f.ready}/{'?' if f.desired is None else f.desired}",
                desired=f.desired, ready=f.ready, starting=f.starting,
                min_replicas=f.min_replicas, max_replicas=f.max_replicas, endpoints=f.endpoints,
                instances=tuple(i.name for i in serving), pylet_states=tuple(i.status for i in serving),
                workers=tuple(dict.fromkeys(i.worker[:8] for i in serving if i.worker)),
                problem=problem,
            ))
        self.watch.forget_except({f.id for f in facts})
        return tuple(rows)

    # -- actions -----------------------------------------------------------------------

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        if action_id == "model.register":
            try:
                registration = parse_prompt(value or "")
            except RegisterInputError as exc:
                return ActionResult(False, f"not registered: {exc}")
            return self.register(registration)
        model = str(getattr(row, "id", "") or "")
        if action_id == "model.delete":
            return self.delete(model)
        if action_id == "model.chat":
            outcome = self.chat(model, self.settings.test_prompt)
            return ActionResult(outcome.ok, outcome.message,
                                follow_up=ShowText(f"test request: {model}", outcome.render()))
        return super().perform(action_id, row, value)

    def register(self, registration: Registration) -> ActionResult:
        try:
            doc = self.head.json("POST", "/register", json=registration.body())
        except HeadError as exc:
            if exc.status == 409:
                return ActionResult(False, f"{registration.model_id} is already registered")
            return ActionResult(False, f"sllm head refused to register {registration.model}: {exc.detail}")
        error = error_in_body(doc)
        if error:
            return ActionResult(False, f"sllm head refused to register {registration.model}: {error}")
        self.request_poll()
        said = doc.get("model_id") if isinstance(doc, dict) else None
        state = doc.get("status") if isinstance(doc, dict) else None
        return ActionResult(True, f"registered {said or registration.model_id}" + (f" ({state})" if state else ""))

    def delete(self, model_id: str) -> ActionResult:
        if not model_id:
            return ActionResult(False, "no model selected")
        try:
            response = self.head.call("DELETE", f"/delete/{quote(model_id, safe='/:')}")
        except HeadError as exc:
            return ActionResult(False, f"sllm head refused to delete {model_id}: {exc.detail}")
        try:
            doc = response.json()
        except ValueError:
            doc = {}
        error = error_in_body(doc)
        if error:
            return ActionResult(False, f"sllm head refused to delete {model_id}: {error}")
        self.request_poll()
        state = doc.get("status") if isinstance(doc, dict) else ""
        return ActionResult(True, f"delete of {model_id} accepted (HTTP {response.status_code}"
                                  + (f", {state}" if state else "") + ")")

    def chat(self, model_id: str, text: str, *, max_tokens: int = 16) -> coldstart.ChatOutcome:
        return coldstart.chat(self.head, self.pylet, model_id, text, max_tokens=max_tokens,
                              timeout=self.settings.chat_timeout)

    def close(self) -> None:
        self.head.close()
        if self.pylet is not None:
            self.pylet.close()
