"""Cyclic garbage collection paused while many short-lived, cycle-free objects are made.

A 50,000-job squeue document or a 50,000-row table fill makes 50,000-150,000 container
objects: the collector would run young passes and full passes over the whole heap (every
pane's rows) in the middle, 0.05-0.4 s each (measured in bench squeue_jobs). Nothing
made under the pause holds a cycle; once re-enabled, one young pass sees the new objects.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    if not gc.isenabled():  # nested, or the caller turned it off: leave it as it is
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
