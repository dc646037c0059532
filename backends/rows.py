"""The immutable rows the built-in backends put in their panes.

Widgets render these by the attribute names their pane's Columns declare; nothing here
knows about Textual or about the SDK the data came from. Durations are seconds and times
are epoch seconds (None when unknown or unlimited) so widgets choose how to format them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContainerRow:
    host: str  # the docker target's name
    id: str  # short id (12 hex digits)
    name: str
    image: str
    state: str  # running, exited, paused, restarting, created, dead
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    status: str  # Docker's own text, e.g. "Up 3 minutes (healthy)"
    started_at: float | None
    ports: str
    full_id: str = ""  # what actions address


@dataclass(frozen=True)
class TargetRow:
    prometheus: str  # the prometheus target's name
    id: str  # scrape pool + scrape url: unique within one Prometheus
    job: str
    instance: str
    health: str  # up, down, unknown
    last_scrape_age_s: float | None
    last_error: str
    scrape_url: str = ""


@dataclass(frozen=True)
class JobRow:
    cluster: str  # the slurm target's name
    job_id: str
    name: str
    user: str
    state: str  # RUNNING, PENDING, ... (the first state when SLURM reports several)
    partition: str
    node: str  # node list when running, "" otherwise
    elapsed_s: int | None
    time_left_s: int | None  # None: unlimited or unknown
    reason: str
    gpus: int | None  # None: unknown (the text fallback does not say)


@dataclass(frozen=True)
class WorkerRow:
    router: str  # the router target's name
    id: str  # the router's worker id (0.3.x uuid; the url on older routers)
    url: str
    healthy: bool | None  # None: this router generation does not say
    load: int | None
    model: str
