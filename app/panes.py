"""The Backends pane, and the catalog that orders panes and resolves `:` words to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

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
    aliases=("be", "backend", "status"),
    order=10,
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


# Commands that are not panes: name -> app action.
COMMANDS: dict[str, str] = {
    "quit": "quit", "q": "quit", "q!": "quit",
    "help": "help", "h": "help",
    "refresh": "refresh", "pause": "pause", "resume": "pause",
}


def _match(word: str, keys: list[str], aliases: dict[str, tuple[str, ...]]) -> str | None:
    for key in keys:
        if word == key or word in aliases[key]:
            return key
    prefixed = [key for key in keys if word and key.startswith(word)]
    return prefixed[0] if len(prefixed) == 1 else None


def installed_pane_specs() -> list[PaneSpec]:
    """The panes of every installed backend kind (imports them: only for a word no
    configured pane answers to)."""
    from servedeck.backends.registry import installed_kinds, load_kind

    specs = []
    for kind in installed_kinds():
        try:
            specs.extend(load_kind(kind).panes)
        except Exception:  # noqa: BLE001 - a broken plugin must not break `:`
            continue
    return specs


class PaneCatalog:
    """The panes of this session in order, and the words `:` resolves to them.

    Each pane declares its own place and aliases in its PaneSpec, so a third-party
    backend's panes sort in and get `:` aliases exactly like the built-in ones.
    """

    def __init__(self, specs: dict[str, PaneSpec], installed: Callable[[], Iterable[PaneSpec]] = lambda: ()):
        self.keys = sorted(specs, key=lambda key: (specs[key].order, key))
        self.aliases = {key: tuple(specs[key].aliases) for key in self.keys}
        self._installed = installed

    def resolve(self, word: str) -> str | None:
        """The pane key an alias, a pane name or a unique prefix of a pane name stands for.

        Words of this session's panes come first; then those of every installed backend
        kind's panes, so `:jobs` without a SLURM backend names the pane (and the app can
        say that nothing feeds it) instead of being an unknown command.
        """
        word = word.strip().lower().lstrip(":")
        found = _match(word, self.keys, self.aliases)
        if found is None and word:
            others = {spec.key: tuple(spec.aliases) for spec in self._installed() if spec.key not in self.aliases}
            found = _match(word, sorted(others), others)
        return found

    def completions(self) -> list[str]:
        """Every word `:` understands, panes first, for the suggester."""
        words = list(self.keys)
        for key in self.keys:
            words += [a for a in self.aliases[key] if len(a) > 2]
        words += [c for c in COMMANDS if len(c) > 2]
        return words
