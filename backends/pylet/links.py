"""A follow-up that moves the cockpit to another pane's row (instance -> worker, -> model)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JumpTo:
    """Show `pane` with the cursor on the first row whose `attr` equals `value`."""

    pane: str
    attr: str
    value: str
    title: str = ""
