"""backends/, lab/, the config and the CLI verbs must run without the TUI."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEADLESS_MODULES = [
    "servedeck.backends.base",
    "servedeck.backends.runner",
    "servedeck.backends.registry",
    "servedeck.backends.fleet",
    "servedeck.backends.docker_backend",
    "servedeck.backends.prometheus_backend",
    "servedeck.backends.slurm_backend",
    "servedeck.backends.router_backend",
    "servedeck.config",
    "servedeck.status",
    "servedeck.cli",
    "servedeck.lab.manager",
    "servedeck.orchestrator.service",
    "servedeck.orchestrator.engine",
    "servedeck.verbs.orchestrate",
    "servedeck.backends.orchestrator_backend",
]


@pytest.mark.parametrize("module", HEADLESS_MODULES)
def test_module_imports_without_textual(module):
    code = f"import sys, {module}; print('textual' in sys.modules or any(m.startswith('textual.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", f"{module} pulled in textual"


def test_every_backends_module_is_textual_free():
    """Import the whole backends package (every module in it) and check once more."""
    code = (
        "import pkgutil, importlib, sys, servedeck.backends as b\n"
        "for m in pkgutil.iter_modules(b.__path__):\n"
        "    importlib.import_module('servedeck.backends.' + m.name)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
