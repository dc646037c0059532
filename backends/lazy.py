"""SDK modules imported on first use, so the cockpit paints before docker, paramiko,
requests or prometheus-api-client are loaded (together they cost more than Textual).

`docker = lazy("docker")` at module level binds a stand-in; the first attribute read
(`docker.DockerClient`, `docker.errors.NotFound`) imports the real module and every later
read goes straight to it. That first read normally happens in a poll's worker thread,
never on the UI loop. Unlike `importlib.util.LazyLoader` this puts nothing half-loaded
into `sys.modules`, so another thread importing the same package is safe: the import
itself is the ordinary, locked `importlib.import_module`, and every lazy import runs
under one process-wide lock: two poll threads importing docker (the Docker and Dynamo
backends' first polls, which start together after the first frame) could otherwise
trip CPython's import deadlock detector, which hands one of them half-initialised
modules ("module 'requests' has no attribute 'exceptions'") and a backend shown down.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

_IMPORTS = threading.RLock()  # one SDK import at a time (see the module docstring)


class LazyModule:
    """A module that imports itself when one of its attributes is first read."""

    def __init__(self, name: str, *submodules: str):
        self._lazy_name = name
        self._lazy_submodules = submodules  # e.g. "errors" for `docker.errors` (a package's submodule)
        self._lazy_module: ModuleType | None = None

    def _load(self) -> ModuleType:
        module = self._lazy_module
        if module is None:
            with _IMPORTS:
                module = importlib.import_module(self._lazy_name)
                for sub in self._lazy_submodules:
                    importlib.import_module(f"{self._lazy_name}.{sub}")
            self._lazy_module = module
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    @property
    def loaded(self) -> bool:
        return self._lazy_module is not None

    def __repr__(self) -> str:
        state = "loaded" if self._lazy_module is not None else "not loaded yet"
        return f"<lazy module {self._lazy_name!r} ({state})>"


def lazy(name: str, *submodules: str) -> Any:
    """`docker = lazy("docker", "errors")`: typed as Any so call sites read as usual."""
    return LazyModule(name, *submodules)
