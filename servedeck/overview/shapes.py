"""The shapes the overview's modules build: attention items and block rows (their own
module, so the rules and blocks of every system can import them without a circle)."""

from __future__ import annotations

from dataclasses import dataclass

from servedeck.overview.common import SEVERITY_RANK, Jump


@dataclass(frozen=True)
class Limits:
    """When a condition becomes a problem (the rest are faults as soon as they are seen)."""

    pending_s: float = 300.0  # a job pending longer than this needs attention
    ended_s: float = 900.0  # a failed/cancelled job stays listed this long after it is first seen


@dataclass(frozen=True)
class AttentionItem:
    severity: str  # crit | warn
    rule: str  # backend_down, job_failed, ... (stable: tests and scripts match on it)
    subject: str  # what is wrong: "backend slurm", "job 42", "GPU node1/3"
    why: str  # one line
    since: float  # when it began (epoch seconds)
    jump: Jump | None = None

    def sort_key(self) -> tuple:
        return (SEVERITY_RANK.get(self.severity, 9), self.since, self.subject)


MAX_ROWS = 8  # rows a block shows before "+N more"


@dataclass(frozen=True)
class BlockRow:
    cells: tuple[str, ...]
    level: str = ""  # "", warn, crit: how the row is coloured
    jump: Jump | None = None


@dataclass(frozen=True)
class Block:
    key: str  # the pane it summarises
    title: str
    columns: tuple[str, ...]
    rows: tuple[BlockRow, ...] = ()
    more: int = 0  # rows left out
    summary: str = ""  # one line next to the title (counts)


def clip(rows: list[BlockRow]) -> tuple[tuple[BlockRow, ...], int]:
    return tuple(rows[:MAX_ROWS]), max(0, len(rows) - MAX_ROWS)
