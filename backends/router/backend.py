"""An SGLang router's worker list, for both API generations, through httpx.

0.2.4+ routers serve `GET /workers` (JSON, ids; uuids from 0.3) and `DELETE /workers/{id}`;
older ones serve `GET /list_workers` -> `{"urls": [...]}` and answer `POST /add_worker?url=`
/ `POST /remove_worker?url=` in plain text. `api: auto` probes `/workers` first and falls
back to the legacy routes; the answer is remembered until a poll fails. Paths can be
overridden (a proxy in front of the router); an override may contain `{id}` or `{url}`.
The auth header's value is read from an environment variable and never printed.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, Literal, Mapping
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from servedeck import bounded
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
)
from servedeck.backends.router import api as router_api
from servedeck.backends.router.drain import DrainError, drain_and_show, plan_for, refresh_board
from servedeck.backends.rows import WorkerRow
from servedeck.backends.router.match import board_for, host_port, match_worker
from servedeck.backends.lazy import lazy

httpx = lazy("httpx")  # loaded by the first request, in a worker thread


_SICK_HINT = "the router says it is unhealthy: see its log"


class RouterEndpoints(BaseModel):
    """Path overrides; unset ones follow the detected API generation."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    list: str | None = Field(default=None, description="Path listing workers, e.g. /workers/list.")
    add: str | None = Field(default=None, description="Path adding a worker (POST, ?url= or {url}).")
    remove: str | None = Field(default=None, description="Path removing one ({id}: DELETE; else POST ?url=).")


class RouterSettings(BackendSettings):
    url: str = Field(description="Router base URL, e.g. http://127.0.0.1:29000.")
    api: Literal["auto", "workers", "legacy"] = Field(
        default="auto", description="Router API generation: workers (0.2.4+), legacy, or auto-detect."
    )
    endpoints: RouterEndpoints = Field(default_factory=RouterEndpoints)
    auth_header_name: str = Field(default="Authorization", description="Header carrying the router token.")
    auth_header_env: str | None = Field(
        default=None, description="Environment variable holding that header's value (never shown)."
    )
    timeout: float = Field(default=5.0, gt=0, description="Seconds one request may take.")
    deregister_grace_s: float = Field(
        default=10.0, ge=0, description="Drain: seconds between removing a worker and cancelling its SLURM job."
    )


WORKERS = PaneSpec(
    key="workers",
    title="Router workers",
    columns=(
        Column("router", "Router", 10),
        Column("url", "Worker URL", 30),
        Column("healthy", "Healthy", 8),
        Column("load", "Load", 6),
        Column("model", "Model", 24),
        Column("job_id", "Job", 9),
        Column("tunnel", "Tunnel", 12),
        Column("draining", "Drain", 14),
        Column("id", "ID", 12),
    ),
    row_key="url",
    aliases=("w", "wk", "worker", "router"),
    order=100,
)


class RouterBackend(Backend):
    kind = "router"
    settings_model = RouterSettings
    default_interval = 5.0
    panes = (WORKERS,)
    actions = (
        Action("worker.remove", "Remove worker from router", "workers", mutating=True, confirm=True, key="x"),
        Action("worker.add", "Add worker to router", "workers", mutating=True, key="a", needs_row=False,
               prompt="Worker URL (http://host:port)"),
        Action("worker.drain", "Drain (remove, grace, cancel job)", "workers", mutating=True, confirm=True, key="d"),
    )

    settings: RouterSettings

    def __init__(
        self,
        settings: RouterSettings,
        context: BackendContext | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        super().__init__(settings, context)
        self._transport = transport  # tests pass httpx.MockTransport
        self._client: httpx.Client | None = None
        self._api: str | None = None if settings.api == "auto" else settings.api
        self.board = board_for(self.context)
        self.board.register(self)
        self._job_tries: dict[str, float] = {}  # slurm target -> when jobs were last fetched for matching

    # -- http --------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.settings.url.rstrip("/"),
                timeout=self.settings.timeout,
                transport=self._transport,
                follow_redirects=True,
            )
        return self._client

    def _headers(self) -> dict[str, str]:
        env = self.settings.auth_header_env
        if not env:
            return {}
        value = os.environ.get(env)
        if not value:
            raise BackendError(
                f"router {self.name}: environment variable {env} (its {self.settings.auth_header_name} header) is not set",
                hint=f"export {env} before starting servedeck",
            )
        return {self.settings.auth_header_name: value}

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.settings.url
        try:
            return bounded.http_request(self.client, method, path, router_api.MAX_REPLY_BYTES,
                                        f"router at {url}: the reply to {method} {path}",
                                        headers=self._headers(), **kwargs)
        except bounded.InputRejected as exc:
            raise BackendError(str(exc), hint="is this a router? check backends.router[].url", reachable=True) from None
        except httpx.TimeoutException:
            raise BackendError(
                f"router at {url} did not answer within {self.settings.timeout:g}s",
                hint="check the router is healthy, or raise backends.router[].timeout",
            ) from None
        except httpx.TransportError as exc:
            raise BackendError(
                f"router not reachable at {url} ({type(exc).__name__})",
                hint="start the router or set backends.router[].url",
            ) from None

    def _check(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code in (401, 403):
            raise BackendError(
                f"router at {self.settings.url} refused {what} (HTTP {response.status_code})",
                hint="check auth_header_name / auth_header_env", reachable=True,
            )
        if response.status_code >= 400:
            raise BackendError(
                f"router at {self.settings.url}: {what} answered HTTP {response.status_code}: "
                f"{router_api.reply_text(response)}",
                hint="check api / endpoints for this router version", reachable=True,
            )
        return response

    # -- polling -----------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        """/health decides whether the router is ok, whether its pane is shown or not."""
        sick = self._reachable()
        if not wanted or "workers" not in wanted:
            if sick:
                raise BackendError(sick, hint=_SICK_HINT, reachable=True)
            return {}
        try:
            rows = self._matched(self._workers())
        except BackendError:
            if self.settings.api == "auto":
                self._api = None  # re-detect next time: the router may have been upgraded
            raise
        problems = [sick] if sick else []
        unhealthy = [r for r in rows if r.healthy is False]
        if unhealthy:
            named = ", ".join(r.url for r in unhealthy[:3])
            more = f" and {len(unhealthy) - 3} more" if len(unhealthy) > 3 else ""
            problems.append(f"{len(unhealthy)} of {len(rows)} workers unhealthy: {named}{more}")
        if problems:
            raise PartialPoll({"workers": rows}, "; ".join(problems),
                              hint=_SICK_HINT if sick else "check those workers' /health and logs")
        return {"workers": rows}

    def worker_rows(self) -> tuple[WorkerRow, ...]:
        """The worker list alone, without `poll`'s /health look: the orchestrator reads
        only the list, every health pass (half the requests of a poll)."""
        try:
            return self._matched(self._workers())
        except BackendError:
            if self.settings.api == "auto":
                self._api = None  # re-detect next time: the router may have been upgraded
            raise

    def _matched(self, rows: tuple[WorkerRow, ...]) -> tuple[WorkerRow, ...]:
        """Fill in the job and tunnel behind each worker from what the other backends
        published, and the drain step in progress."""
        self.board.publish("workers", self.name, rows)
        self._refresh_stale_jobs()
        jobs, tunnels = self.board.rows("jobs"), self.board.rows("tunnels")
        out = []
        for row in rows:
            found = match_worker(row.url, jobs, tunnels)
            out.append(replace(
                row, job_id=found.job.job_id if found.job else "",
                tunnel=found.tunnel.name if found.tunnel else "",
                draining=self.board.draining("workers", row.id),
            ))
        listed = {row.id for row in rows}
        for row, step in self.board.draining_rows("workers"):
            if row.router == self.name and row.id not in listed and step:
                out.append(replace(row, healthy=None, load=None, draining=step))
        return tuple(out)

    def _refresh_stale_jobs(self) -> None:
        """The jobs pane may be hidden (then SLURM is not asked for jobs): fetch them for
        matching, at most once per SLURM target's interval."""
        now = time.monotonic()
        for slurm in self.board.backends("slurm"):
            stale = self.board.age("jobs", slurm.name) > 2 * slurm.interval
            if stale and now - self._job_tries.get(slurm.name, -1e9) > 2 * slurm.interval:
                self._job_tries[slurm.name] = now
                try:
                    slurm.poll(frozenset({"jobs"}))
                except BackendError:
                    pass  # SLURM down: workers show no job, SLURM's own state says why

    def _reachable(self) -> str:
        """Raises when the router cannot be asked; returns what is wrong when its /health
        answers with an error ("" when healthy)."""
        response = self._request("GET", "/health")
        if response.status_code in (401, 403):
            self._check(response, "GET /health")
        if response.status_code == 404:  # no /health on this router or proxy: ask for the list
            self._check(self._request("GET", self._list_path()), "the worker list")
            return ""
        if response.status_code >= 400:
            return (f"router at {self.settings.url}: /health answered HTTP {response.status_code}"
                    + router_api.reply_suffix(response))
        return ""

    def _detect(self) -> str:
        if self._api is None:
            response = self._request("GET", self.settings.endpoints.list or "/workers")
            if response.status_code in (401, 403):
                self._check(response, "the worker list")
            if response.status_code < 400 and router_api.looks_like_workers(response):
                self._api = "workers"
            else:
                probe = self._request("GET", self.settings.endpoints.list or "/list_workers")
                if probe.status_code < 400 and router_api.looks_like_legacy(probe):
                    self._api = "legacy"
                else:
                    raise BackendError(
                        f"router at {self.settings.url} serves neither /workers nor /list_workers",
                        hint="set api: and endpoints: for this router", reachable=True,
                    )
        return self._api

    def _list_path(self) -> str:
        if self.settings.endpoints.list:
            return self.settings.endpoints.list
        return "/workers" if self._detect() == "workers" else "/list_workers"

    def _workers(self) -> tuple[WorkerRow, ...]:
        path = self._list_path()
        response = self._check(self._request("GET", path), f"GET {path}")
        try:
            return router_api.parse_workers(router_api.json_of(response), self.name)
        except (ValueError, router_api.RouterReplyError) as exc:
            raise BackendError(
                f"router at {self.settings.url}: GET {path} answered something unexpected ({exc})",
                hint="check api / endpoints for this router version", reachable=True,
            ) from None

    # -- actions -----------------------------------------------------------------------

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        if action_id == "worker.add":
            return self.add_worker((value or "").strip())
        if action_id == "worker.drain":
            refresh_board(self.board)
            try:
                plan = plan_for(str(getattr(row, "url", "")), self.board)
            except DrainError as exc:
                return ActionResult(False, str(exc))
            ok, text = drain_and_show(plan, self.board, self.settings.deregister_grace_s)
            return ActionResult(ok, text)
        if action_id != "worker.remove":
            return super().perform(action_id, row, value)
        worker_id, url = str(getattr(row, "id", "")), str(getattr(row, "url", ""))
        method, path, params = self._remove_request(worker_id, url)
        response = self._request(method, path, params=params)
        if response.status_code >= 400:
            return ActionResult(False, f"router refused to remove {url or worker_id}: "
                                       f"HTTP {response.status_code} {router_api.reply_text(response)}")
        return ActionResult(True, f"removed {url or worker_id} from router {self.name}"
                                  + router_api.reply_suffix(response))

    def _remove_request(self, worker_id: str, url: str) -> tuple[str, str, dict[str, str] | None]:
        override = self.settings.endpoints.remove
        if override:
            if "{id}" in override:
                return "DELETE", override.replace("{id}", quote(worker_id, safe="")), None
            if "{url}" in override:
                return "POST", override.replace("{url}", quote(url, safe="")), None
            return "POST", override, {"url": url}
        if self._detect() == "workers":
            return "DELETE", f"/workers/{quote(worker_id, safe='')}", None
        return "POST", "/remove_worker", {"url": url}

    def add_worker(self, url: str) -> ActionResult:
        """Register a worker; 0.3.x routers queue the addition (202) and list it once probed."""
        if host_port(url) is None or not url.startswith(("http://", "https://")):
            return ActionResult(False, f"refused: {url!r} is not a worker URL like http://host:port")
        override = self.settings.endpoints.add
        if override:
            if "{url}" in override:
                response = self._request("POST", override.replace("{url}", quote(url, safe="")))
            else:
                response = self._request("POST", override, params={"url": url})
        elif self._detect() == "workers":
            response = self._request("POST", "/workers", json={"url": url})
        else:
            response = self._request("POST", "/add_worker", params={"url": url})
        if response.status_code >= 400:
            return ActionResult(False, f"router refused to add {url}: HTTP {response.status_code} "
                                       f"{router_api.reply_text(response)}")
        self.request_poll()
        queued = " (queued)" if response.status_code == 202 else ""
        return ActionResult(True, f"asked router {self.name} to add {url}{queued}" + router_api.reply_suffix(response))

    def close(self) -> None:
        self.board.unregister(self)
        client, self._client = self._client, None
        if client is not None:
            client.close()
