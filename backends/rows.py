"""The immutable rows the built-in backends put in their panes.

Widgets render these by the attribute names their pane's Columns declare; nothing here
knows about Textual or about the SDK the data came from. Durations are seconds and times
are epoch seconds (None when unknown or unlimited) so widgets choose how to format them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ContainerRow:
    """One container on one Docker host. The first nine fields are `status --json`'s."""

    name: str
    id: str  # short id (12 hex digits)
    host: str  # the docker target's name
    image: str
    state: str  # running, exited, paused, restarting, created, dead
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    started_at: float | None
    cpu_percent: float | None  # None: not running, or not sampled yet
    mem_bytes: int | None
    uptime_s: float | None = None  # running containers only, as of the poll
    status: str = ""  # Docker's own text, e.g. "Up 3 minutes (healthy)"
    ports: str = ""
    networks: str = ""
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
    port: int | None = None  # the port the job serves on, from its comment/command (worker matching)
    draining: str = ""  # the drain step in progress for this job, "" when none


def _job_row_draft() -> type:
    """A plain class with JobRow's fields in order, whose instances become JobRows.

    JobRow is a frozen dataclass: its `__init__` sets each field through
    `object.__setattr__`, ~3 µs a row, more than decoding the row's squeue JSON. This
    class sets them as ordinary attributes (its layout is JobRow's: a plain class, no
    slots), and `job_rows` then gives each instance JobRow's class, so what comes out is
    a JobRow in every respect (type, equality, hash, frozen) at a quarter of the cost."""
    names = [f.name for f in fields(JobRow)]
    source = (f"def __init__(self, {', '.join(names)}):\n"
              + "".join(f"    self.{n} = {n}\n" for n in names))
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - the field names are JobRow's own
    return type("JobRowDraft", (), {"__init__": namespace["__init__"]})


JobRowDraft = _job_row_draft()  # call with every JobRow field, positionally, in order


def job_rows(drafts: list) -> tuple[JobRow, ...]:
    """JobRows from `JobRowDraft`s (the list is used up: its items become the rows)."""
    for draft in drafts:
        draft.__class__ = JobRow
    return tuple(drafts)


@dataclass(frozen=True)
class WorkerRow:
    router: str  # the router target's name
    id: str  # the router's worker id (0.3.x uuid; the url on older routers)
    url: str
    healthy: bool | None  # None: this router generation does not say
    load: int | None
    model: str
    job_id: str = ""  # the SLURM job behind this worker, when one matches (see worker_match)
    tunnel: str = ""  # the tunnel behind this worker, when one matches
    draining: str = ""  # the drain step in progress for this worker, "" when none


@dataclass(frozen=True)
class TunnelRow:
    name: str
    mode: str  # local (-L) or reverse (-R)
    ssh: str  # the ssh host it runs over
    local: str  # host:port on this machine (listening for -L, target for -R)
    remote: str  # host:port at the far end (target for -L, listening on the ssh host for -R)
    state: str  # up, down, reconnecting, closed
    connections: int  # open right now
    bytes_in: int  # from the far end towards us
    bytes_out: int  # from us towards the far end
    error: str  # the last error, "" when none
    since: float | None  # when it entered its state (epoch seconds)

    # Column aliases whose suffix tells the table how to draw them (cells.render_cell).
    @property
    def since_at(self) -> float | None:
        return self.since

    @property
    def in_bytes(self) -> int:
        return self.bytes_in

    @property
    def out_bytes(self) -> int:
        return self.bytes_out
