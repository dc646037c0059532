"""How a row value is drawn in a table cell: safe text, units, and state colours."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from servedeck.text import safe

GOOD = {"ok", "up", "running", "healthy", "ready", "completed", "active", "true", "yes", "idle"}
WARN = {"degraded", "starting", "pending", "configuring", "reconnecting", "restarting", "paused",
        "draining", "completing", "created", "unknown", "stale", "mixed", "alloc", "allocated"}
BAD = {"down", "exited", "dead", "failed", "unhealthy", "error", "cancelled", "timeout", "node_fail",
       "out_of_memory", "false", "no", "removing", "drain", "drained", "boot_fail", "preempted"}

STATE_STYLE = {"good": "green", "warn": "yellow", "bad": "bold red"}


def state_class(value: str) -> str | None:
    word = value.strip().lower().split(" ")[0].rstrip(",")
    if word in GOOD:
        return "good"
    if word in WARN:
        return "warn"
    if word in BAD:
        return "bad"
    return None


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 0:
        return "—"
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def human_bytes(value: float | None) -> str:
    if value is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return str(value)


def age(timestamp: float | None, now: float | None = None) -> str:
    if not timestamp:
        return "—"
    return human_duration((now or time.time()) - timestamp)


def render_cell(column: str, value: Any) -> Text | str:
    """Draw one value; the column name says its unit (`_s` seconds, `_bytes`, `_at` a time)."""
    if value is None or value == "":
        return Text("—", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no", style="green" if value else "red")
    if column.endswith("_s") and isinstance(value, (int, float)):
        return human_duration(value)
    if column.endswith("_bytes") and isinstance(value, (int, float)):
        return human_bytes(value)
    if column.endswith("_at") and isinstance(value, (int, float)):
        return age(value) + " ago"
    if column.endswith("_ms") and isinstance(value, (int, float)):
        return f"{value:.0f}ms"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, (list, tuple, frozenset, set)):
        return safe(", ".join(str(v) for v in value))
    text = safe(value)
    cls = state_class(text) if column in STATE_COLUMNS else None
    return Text(text, style=STATE_STYLE[cls]) if cls else text


STATE_COLUMNS = {"state", "health", "status", "healthy", "phase", "tunnel_state"}
