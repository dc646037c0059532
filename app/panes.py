"""Which panes exist, in what order, and the `:` aliases that reach them (k9s style)."""

from __future__ import annotations

from dataclasses import dataclass

from servedeck.backends.base import Column, PaneSpec

BACKENDS_PANE = PaneSpec(
    key="backends",
    title="Backends",
    columns=(
        Column("name", "Name"),
        Column("kind", "Kind"),
        Column("state", "State"),
        Column("since_at", "Since"),
        Column("latency_ms", "Latency"),
        Column("polled_panes", "Polling"),
        Column("message", "Message", width=60),
        Column("hint", "Hint", width=48),
    ),
    row_key="name",
)


@dataclass(frozen=True)
class BackendRow:
    """A row of the backends pane, derived from a snapshot's state."""

    name: str
    kind: str
    state: str
    since_at: float
    latency_ms: float | None
    polled_panes: str
    message: str
    hint: str


# Canonical order of the panes later issues add; third-party panes follow.
PANE_ORDER = [
    "backends", "containers", "compose", "container_runs", "gpus", "nodes", "serving", "routers",
    "jobs", "tunnels", "workers", "deployments", "targets", "logs",
]

ALIASES: dict[str, tuple[str, ...]] = {
    "backends": ("be", "backend", "status"),
    "containers": ("co", "ctr", "container", "docker"),
    "compose": ("cp", "projects", "stack", "docker-compose"),
    "container_runs": ("runs", "run", "manifests"),
    "gpus": ("gpu", "dcgm"),
    "nodes": ("no", "node"),
    "serving": ("sv", "sglang", "instances"),
    "routers": ("rt", "routermetrics"),
    "jobs": ("j", "job", "slurm", "squeue"),
    "tunnels": ("tu", "tunnel"),
    "workers": ("w", "wk", "worker", "router"),
    "deployments": ("dp", "deploy", "orch"),
    "targets": ("ta", "target", "prom", "prometheus"),
    "logs": ("l", "log"),
}

# Commands that are not panes: name -> app action.
COMMANDS: dict[str, str] = {
    "quit": "quit", "q": "quit", "q!": "quit",
    "help": "help", "h": "help",
    "refresh": "refresh", "pause": "pause", "resume": "pause",
}


def ordered(keys: set[str]) -> list[str]:
    known = [k for k in PANE_ORDER if k in keys]
    return known + sorted(keys - set(PANE_ORDER))


def resolve(word: str) -> str | None:
    """The pane key an alias, a pane name or a unique prefix of a pane name stands for."""
    word = word.strip().lower().lstrip(":")
    for key, aliases in ALIASES.items():
        if word == key or word in aliases:
            return key
    prefixed = [key for key in ALIASES if word and key.startswith(word)]
    return prefixed[0] if len(prefixed) == 1 else None


def completions(pane_keys: list[str]) -> list[str]:
    """Every word `:` understands, panes first, for the suggester."""
    words = list(pane_keys)
    for key in pane_keys:
        words += [a for a in ALIASES.get(key, ()) if len(a) > 2]
    words += [c for c in COMMANDS if len(c) > 2]
    return words
