"""Compose projects on one Docker host, found from their containers' labels.

A compose target is a Docker host (the same `url` as a docker target); the backend is the
Docker backend with a different pane: it reuses that backend's client, error translation,
event thread (a container that starts, dies or changes health asks for a poll at once)
and its row of a container, and groups those rows by project. Actions run the installed
Compose CLI with the project's own files and name (see `cli`).
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from pydantic import Field

from servedeck.backends.base import (
    Action, ActionResult, BackendContext, BackendError, Column, OpenLog, PaneSpec, Rows,
)
from servedeck.backends.compose import cli
from servedeck.backends.compose.labels import (
    PROJECT, DependsFromFiles, dependency_order, describe_depends, exit_code, read_labels, summary_state,
    worst_health,
)
from servedeck.backends.compose.rows import ComposeRow
from servedeck.backends.docker.backend import DockerBackend, DockerSettings


class ComposeSettings(DockerSettings):
    stats: bool = Field(default=False, description="Unused: the compose pane shows no CPU or memory.")
    cli: list[str] = Field(default_factory=list,
                           description="The Compose CLI to run, e.g. [docker-compose] (default: probe `docker compose`, "
                                       "then `docker-compose`).")
    action_timeout: float = Field(default=600.0, gt=0, description="Seconds one Compose command (up, build...) may take.")


COMPOSE = PaneSpec(
    key="compose",
    title="Compose",
    columns=(
        Column("host", "Host", 12),
        Column("project", "Project", 18),
        Column("service", "Service", 16),
        Column("state", "State", 13),
        Column("health", "Health", 9),
        Column("depends_on", "Depends on", 22),
        Column("started_at", "Started", 9),
        Column("exit_code", "Exit", 5),
        Column("ports", "Ports", 16),
        Column("image", "Image", 22),
        Column("container", "Container", 22),
        Column("working_dir", "Directory", 30),
    ),
    row_key="id",
    aliases=("cp", "projects", "stack", "docker-compose"),
    order=25,  # right after the containers it groups
)

PANE = "compose"
ACTIONS = (
    Action("compose.logs", "Logs", PANE, mutating=False, key="l"),  # a project row: every service merged
    Action("compose.up", "Up", PANE, key="u"),
    Action("compose.restart", "Restart", PANE, confirm=True, key="R"),
    Action("compose.down", "Down", PANE, confirm=True, key="x"),  # a service row: stop and remove it
    Action("compose.down_volumes", "Down -v (remove volumes)", PANE, confirm=True, key="X"),
    Action("compose.build", "Build", PANE, key="b"),
    Action("compose.rebuild", "Rebuild (no pull) and recreate", PANE, confirm=True, key="B"),
)


def command_args(action_id: str, service: str, *, v2: bool) -> list[str]:
    """The Compose arguments of one action, on a whole project ("") or on one service."""
    only = [service] if service else []
    if action_id == "compose.up":
        return ["up", "-d", *only]
    if action_id == "compose.restart":
        return ["restart", *only]
    if action_id in ("compose.down", "compose.down_volumes"):
        volumes = ["-v"] if action_id == "compose.down_volumes" else []
        return ["rm", "-s", "-f", *volumes, *only] if service else ["down", *volumes]
    if action_id == "compose.build":
        return ["build", *only]  # neither generation pulls unless told (--pull)
    if action_id == "compose.rebuild":
        return ["up", "-d", "--build", *(["--pull", "never"] if v2 else []), *only]
    raise KeyError(action_id)


DONE = {"compose.up": "up", "compose.restart": "restarted", "compose.down": "down",
        "compose.down_volumes": "down (volumes removed)", "compose.build": "built", "compose.rebuild": "rebuilt"}


class ComposeBackend(DockerBackend):
    kind = "compose"
    settings_model = ComposeSettings
    default_interval = 5.0
    panes = (COMPOSE,)
    actions = ACTIONS
    log_kinds = ("compose",)

    settings: ComposeSettings

    def __init__(self, settings: ComposeSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self._depends = DependsFromFiles()

    # -- polling -----------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        self._watch_events()
        if PANE not in wanted:
            self._call(lambda api: api.ping())
            return {}
        return {PANE: self.rows()}

    def rows(self) -> Rows:
        """Blocking: every project of this host, each followed by its services."""
        summaries = self._call(lambda api: api.containers(all=True, filters={"label": PROJECT}))
        now = time.time()
        by_project: dict[str, list[tuple[Any, Any]]] = {}
        for s in summaries:
            labels = read_labels(s.get("Labels"))
            if labels is not None and not labels.oneoff:
                by_project.setdefault(labels.project, []).append((labels, self._row(s, now, None)))
        out: list[ComposeRow] = []
        for project in sorted(by_project):
            out += self._project_rows(project, by_project[project])
        live = {(r.full_id, r.state) for r in out if r.full_id}
        self._started = {k: v for k, v in self._started.items() if k in live}
        return tuple(out)

    def _project_rows(self, project: str, members: list) -> list[ComposeRow]:
        first = members[0][0]
        files, workdir = first.config_files, first.working_dir
        from_files = None
        depends: dict[str, dict[str, str]] = {}
        for labels, _ in members:
            if labels.depends_on is not None:
                depends[labels.service] = dict(labels.depends_on)
            else:
                from_files = from_files if from_files is not None else self._depends.get(files, workdir)
                depends[labels.service] = from_files.get(labels.service, {})
        order = dependency_order({k: v.keys() for k, v in depends.items()}, (lab.service for lab, _ in members))
        members = sorted(members, key=lambda m: (order.get(m[0].service, 0), m[1].name))
        services = [
            ComposeRow(
                id=f"{project}/{labels.service}/{row.name}", kind="service", host=self.name, project=project,
                service=labels.service, container=row.name, state=row.state, health=row.health, image=row.image,
                ports=row.ports, started_at=row.started_at, exit_code=exit_code(row.state, row.status),
                depends_on=describe_depends(depends.get(labels.service, {})),
                order=order.get(labels.service, 0), config_files=labels.config_files,
                working_dir=labels.working_dir, full_id=row.full_id, status=row.status,
            )
            for labels, row in members
        ]
        started = [r.started_at for r in services if r.started_at and r.state == "running"]
        head = ComposeRow(
            id=project, kind="project", host=self.name, project=project, service="",
            container=f"{len(services)} container{'s' if len(services) != 1 else ''}",
            state=summary_state([r.state for r in services]), health=worst_health(r.health for r in services),
            image="", ports="", started_at=min(started) if started else None, exit_code=None, depends_on="",
            order=-1, config_files=files, working_dir=workdir,
        )
        return [head, *services]

    def find_project(self, project: str) -> ComposeRow | None:
        """The row of the project called PROJECT on this host (blocking)."""
        return next((r for r in self.rows() if r.kind == "project" and r.project == project), None)

    # -- actions -----------------------------------------------------------------------

    def compose_cli(self) -> tuple[str, ...]:
        return cli.compose_command(self.settings.cli)

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        if not isinstance(row, ComposeRow):
            return ActionResult(False, f"{action_id} needs a project or service row")
        service = row.service if row.kind == "service" else ""
        project = cli.ComposeProject(row.project, row.config_files, row.working_dir)
        if action_id == "compose.logs":
            try:
                source = self.project_log(project, service)
            except BackendError as exc:
                return ActionResult(False, exc.message + (f" ({exc.hint})" if exc.hint else ""))
            return ActionResult(True, f"logs of {row.name}", follow_up=OpenLog(source, source.name))
        if action_id not in DONE:
            return super().perform(action_id, row)
        return self.run_action(action_id, project, service)

    def run_action(self, action_id: str, project: cli.ComposeProject, service: str = "") -> ActionResult:
        """Blocking: one action through the Compose CLI; the answer is one line."""
        what = f"{project.label}/{service}" if service else project.label
        try:
            argv = self.compose_cli()
            cli.check_files(project)
            args = command_args(action_id, service, v2=argv[-1] == "compose")
            outcome = cli.run(argv, project, args, docker_url=self.settings.url, timeout=self.settings.action_timeout)
        except BackendError as exc:
            return ActionResult(False, f"{what}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        self.request_poll()
        if outcome.rc != 0:
            return ActionResult(False, f"{what}: {' '.join(args)} failed (exit {outcome.rc}): {outcome.last_line}")
        return ActionResult(True, f"{what}: {DONE[action_id]}")

    # -- logs --------------------------------------------------------------------------

    def project_log(self, project: cli.ComposeProject, service: str = ""):
        from servedeck.backends.compose.logsource import ComposeLogSource

        argv = self.compose_cli()
        cli.check_files(project)
        return ComposeLogSource(argv, project, service, docker_url=self.settings.url)

    def log_source(self, kind: str, name: str):
        """`compose/PROJECT` (every service merged) or `compose/PROJECT/SERVICE`, `@TARGET` to pick a host."""
        if kind != "compose":
            return None
        name, _, host = name.partition("@")
        if host and host != self.name:
            return None
        project, _, service = name.partition("/")
        row = self.find_project(project)
        if row is None:
            return None
        return self.project_log(cli.ComposeProject(project, row.config_files, row.working_dir), service)
