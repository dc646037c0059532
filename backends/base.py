"""The backend contract: what every source of live data in servedeck implements.

A backend is a plain, Textual-free class. It declares its kind, the actions it can
perform, its default refresh interval and a pydantic model for its config section; it
turns one blocking poll into an immutable `Snapshot`. Failures never leak out as
exceptions: the `BackendRunner` turns them into a `BackendState` (ok / degraded / down,
message, since) that the UI and `status --json` render as-is.
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

from pydantic import BaseModel, ConfigDict, Field


class Health(str, enum.Enum):
    """How a backend is doing, as shown in the header and `status --json`."""

    UNKNOWN = "unknown"  # not polled yet
    OK = "ok"
    DEGRADED = "degraded"  # reachable, but part of what it serves failed
    DOWN = "down"  # not reachable


@dataclass(frozen=True)
class BackendState:
    health: Health
    message: str = ""
    since: float = field(default_factory=time.time)
    latency_ms: float | None = None
    hint: str = ""  # one line that says what to do about a problem


@dataclass(frozen=True)
class Action:
    """Something a backend can do to a row of one of its panes."""

    id: str  # e.g. "container.stop"
    title: str  # e.g. "Stop container"
    pane: str  # the pane whose rows it acts on
    mutating: bool = True  # refused in --readonly
    confirm: bool = False  # asks before it runs
    key: str = ""  # default key in the pane (remappable by binding id "<pane>.<id>")
    needs_row: bool = True  # False: acts on the pane/backend, not on a selected row
    prompt: str = ""  # non-empty: ask the operator for a value first (passed as `value`)


@dataclass(frozen=True)
class ShowText:
    """Follow-up: show a block of text (details, `scontrol show job`...) in a viewer."""

    title: str
    text: str


@dataclass(frozen=True)
class RunInteractive:
    """Follow-up: suspend the cockpit and run an interactive command (a shell), then return."""

    argv: tuple[str, ...]
    title: str = ""


@dataclass(frozen=True)
class OpenLog:
    """Follow-up: open a log source in the logs pane (the source type lives with the logs)."""

    source: Any
    title: str = ""


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str
    follow_up: Any = None  # ShowText | RunInteractive | OpenLog | None


@dataclass(frozen=True)
class Column:
    """One column of a pane: the row attribute it shows and its heading."""

    key: str
    title: str
    width: int | None = None
    # Which columns stay when the table is narrow: lower stays longer (1: never hides);
    # None: by position, with the row key and state/health columns kept (widgets/column_fit).
    priority: int | None = None


@dataclass(frozen=True)
class PaneSpec:
    """A kind of pane a backend feeds; rows of the same pane key merge across backends."""

    key: str  # "containers", "jobs", ...
    title: str
    columns: tuple[Column, ...]
    row_key: str = "id"  # row attribute that identifies a row within one backend
    aliases: tuple[str, ...] = ()  # words `:` accepts for this pane (k9s style), besides its key
    order: int = 1000  # place in the pane list (built-in panes use 10..130; ties sort by key)


Rows = tuple[Any, ...]  # a tuple of frozen dataclass instances


@dataclass(frozen=True)
class Snapshot:
    """Everything one poll of one backend produced. Immutable: widgets only read it."""

    backend: str  # the configured target's name
    kind: str
    state: BackendState
    taken_at: float
    panes: Mapping[str, Rows] = field(default_factory=dict)


class BackendError(Exception):
    """A backend's own failure, already phrased for an operator.

    `reachable=False` means the service could not be reached at all (state down);
    otherwise the poll is degraded.
    """

    def __init__(self, message: str, *, hint: str = "", reachable: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.reachable = reachable


class BackendSettings(BaseModel):
    """Fields every configured backend target has; kinds extend this model."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(description="Unique name of this target, shown in the header and rows.")
    interval: float | None = Field(
        default=None, gt=0, description="Refresh interval in seconds (default: the kind's)."
    )
    enabled: bool = Field(default=True, description="A disabled target is not polled.")


class Backend(ABC):
    """Base class for backends. Subclasses are registered in `servedeck.backends`."""

    kind: ClassVar[str]
    settings_model: ClassVar[type[BackendSettings]] = BackendSettings
    default_interval: ClassVar[float] = 5.0
    # A backend whose fast rate is only for live progress (a build, a tuning run) sets
    # this, and `live` in its polls: with nothing in progress it is polled at this rate.
    idle_interval: ClassVar[float | None] = None
    panes: ClassVar[tuple[PaneSpec, ...]] = ()
    actions: ClassVar[tuple[Action, ...]] = ()
    log_kinds: ClassVar[tuple[str, ...]] = ()  # kinds of log source it can build (see logsources)

    def __init__(self, settings: BackendSettings, context: "BackendContext | None" = None):
        self.settings = settings
        self.context = context or BackendContext()
        self.wake: "Callable[[], None] | None" = None  # set by whoever schedules polls
        self.on_screen: Mapping[str, frozenset[str]] = {}  # pane -> row keys on screen (see show_rows)
        self.live = True  # something is in progress (see idle_interval); until a poll says otherwise

    def show_rows(self, pane: str, keys: frozenset[str]) -> None:
        """The UI says which of this backend's rows of `pane` are on screen (their
        `row_key` values), so per-row costs (container stats) are paid only for those.
        Called on the UI thread; the mapping is replaced, never mutated, so a poll
        thread reading it sees one whole version."""
        self.on_screen = {**self.on_screen, pane: frozenset(keys)}

    def request_poll(self) -> None:
        """Ask for a poll soon (any thread): an event said something changed."""
        if self.wake is not None:
            self.wake()

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def interval(self) -> float:
        """Seconds between polls: the configured interval, else the default, else (when
        the backend says nothing is in progress) its idle rate: an idle cockpit sleeps."""
        if self.settings.interval:
            return self.settings.interval
        if self.idle_interval is not None and not self.live:
            return max(self.default_interval, self.idle_interval)
        return self.default_interval

    @classmethod
    def capabilities(cls) -> frozenset[str]:
        return frozenset(a.id for a in cls.actions)

    @abstractmethod
    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        """Blocking. Fetch rows for the wanted pane keys (an empty set: reachability only).

        Raise `BackendError` for failures; return partial data by raising
        `PartialPoll` when some panes failed but others succeeded.
        """

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        """Blocking. Run one of `actions` on a row (None for `needs_row=False` actions);
        `value` is what the operator typed for actions with a `prompt`."""
        return ActionResult(False, f"{self.kind} backend cannot {action_id}")

    def log_source(self, kind: str, name: str):
        """A `LogSource` for `kind/name` if this backend has it, else None (blocking)."""
        return None

    def close(self) -> None:
        """Release connections. Called on shutdown."""


class PartialPoll(BackendError):
    """Some panes polled, others failed: the snapshot is degraded, not down."""

    def __init__(self, panes: Mapping[str, Rows], message: str, *, hint: str = ""):
        super().__init__(message, hint=hint, reachable=True)
        self.panes = panes


@dataclass(frozen=True)
class BackendContext:
    """Shared services a backend may use (SSH connections and the like, added later)."""

    extras: Mapping[str, Any] = field(default_factory=dict)


def find_action(backend_cls: type[Backend], action_id: str) -> Action | None:
    return next((a for a in backend_cls.actions if a.id == action_id), None)
