"""Custom pane bodies, one module each, found by listing this package.

By default a pane is a `LineTable` of its rows (widgets/line_table). A module here can
replace that for some pane keys by defining `PANE_BODIES = {pane_key: factory}` where
`factory(spec, actions, id=...)` returns a widget with the table surface
(`show`, `set_filter`, `filter_text`, `selected`, `refresh_relative`, `shown_count`,
`total_count`, `pane_actions`, `spec`). `ALWAYS_PANES = {pane_key: PaneSpec}` adds panes
that exist without a backend feeding them (the logs pane). `FOLLOW_UPS = {type: handler}`
shows an action's follow-up of a new type: `handler(app, request)` on the UI loop.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Any, Callable

from servedeck.backends.base import PaneSpec

BodyFactory = Callable[..., Any]


@lru_cache(maxsize=1)
def discover() -> tuple[dict[str, BodyFactory], dict[str, PaneSpec]]:
    bodies: dict[str, BodyFactory] = {}
    always: dict[str, PaneSpec] = {}
    FOLLOW_UPS.clear()
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        bodies.update(getattr(module, "PANE_BODIES", {}))
        always.update(getattr(module, "ALWAYS_PANES", {}))
        FOLLOW_UPS.update(getattr(module, "FOLLOW_UPS", {}))
    return bodies, always


FOLLOW_UPS: dict[type, Callable[[Any, Any], None]] = {}
