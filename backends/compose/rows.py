"""The rows of the compose pane: one per project, then one per service container beneath it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComposeRow:
    """A project (kind "project", service "") or one container of one of its services."""

    id: str  # "PROJECT" or "PROJECT/SERVICE/CONTAINER": unique within one Docker host
    kind: str  # "project" or "service"
    host: str  # the compose target's name
    project: str
    service: str  # "" on a project row
    container: str  # container name ("" on a project row)
    state: str  # container state; on a project row "running 2/3" (how many run)
    health: str  # healthy, unhealthy, starting, ""; on a project row the worst of its services
    image: str
    ports: str
    started_at: float | None
    exit_code: int | None  # exited containers only
    depends_on: str  # "db (healthy), cache": the services it waits for, with the condition
    order: int  # place of the service in depends_on order (dependencies first)
    config_files: tuple[str, ...]  # the project's compose files, from its labels
    working_dir: str
    full_id: str = ""  # container id, "" on a project row
    status: str = ""  # Docker's own text, e.g. "Up 3 minutes (healthy)"

    @property
    def name(self) -> str:
        """What messages call the row: the project, or PROJECT/SERVICE."""
        return self.project if self.kind == "project" else f"{self.project}/{self.service}"


def addressing(host: str, project: str, files: tuple[str, ...], working_dir: str, service: str = "") -> ComposeRow:
    """A row that only addresses a project (or one of its services) for an action, for a
    project that has no containers yet (`servedeck compose -f FILE up`)."""
    return ComposeRow(
        id=f"{project}/{service}" if service else project, kind="service" if service else "project", host=host,
        project=project, service=service, container="", state="", health="", image="", ports="",
        started_at=None, exit_code=None, depends_on="", order=0, config_files=files, working_dir=working_dir,
    )
