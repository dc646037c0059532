"""A real, in-process implementation of the Backend interface for shell tests.

It keeps its rows in memory and performs its actions on them, so Pilot tests can drive
the cockpit without services; integration tests use the real backends against the lab.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Mapping

from servedeck.backends.base import (
    Action, ActionResult, Backend, BackendError, BackendSettings, Column, PaneSpec, Rows, ShowText,
)


@dataclass(frozen=True)
class Box:
    id: str
    state: str
    note: str = ""


class MemoryBackend(Backend):
    kind = "memory"
    default_interval = 0.2
    panes = (PaneSpec("containers", "Containers", (Column("id", "Name"), Column("state", "State"), Column("note", "Note")),
                      aliases=("co", "ctr", "container", "docker"), order=20),)
    actions = (
        Action("container.stop", "Stop container", "containers", mutating=True, confirm=True, key="x"),
        Action("container.start", "Start container", "containers", mutating=True, key="s"),
        Action("container.inspect", "Inspect container", "containers", mutating=False, key="i"),
        Action("container.create", "Create container", "containers", key="n", needs_row=False,
               prompt="Name of the new container:"),
    )

    def __init__(self, settings: BackendSettings, context=None, rows=("a", "b")):
        super().__init__(settings, context)
        self.rows = {r: Box(r, "running") for r in rows}
        self.down = False
        self.polls: list[frozenset[str]] = []
        self.performed: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        self.gate.wait(10)
        self.polls.append(wanted)
        if self.down:
            raise BackendError("memory store unreachable", hint="bring it back")
        return {"containers": tuple(self.rows.values())} if "containers" in wanted else {}

    def perform(self, action_id: str, row, value=None) -> ActionResult:
        if action_id == "container.create":
            self.performed.append((action_id, value))
            self.rows[value] = Box(value, "created")
            return ActionResult(True, f"created {value}")
        self.performed.append((action_id, row.id))
        if action_id == "container.inspect":
            return ActionResult(True, "", follow_up=ShowText(f"container {row.id}", f"state: {row.state}\x1b[2J\nnote: {row.note}"))
        if action_id == "container.stop":
            self.rows[row.id] = replace(self.rows[row.id], state="exited")
        elif action_id == "container.start":
            self.rows[row.id] = replace(self.rows[row.id], state="running")
        return ActionResult(True, f"{action_id} done")
