"""backends/, lab/, the config and the CLI verbs must run without the TUI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HEADLESS_MODULES = [
    "servedeck.backends.base",
    "servedeck.backends.runner",
    "servedeck.backends.registry",
    "servedeck.backends.fleet",
    "servedeck.backends.docker.backend",
    "servedeck.backends.metrics.prometheus",
    "servedeck.backends.slurm.backend",
    "servedeck.backends.router.backend",
    "servedeck.config",
    "servedeck.status",
    "servedeck.cli",
    "servedeck.lab.manager",
    "servedeck.orchestrator.service",
    "servedeck.orchestrator.engine",
    "servedeck.verbs.orchestrate",
    "servedeck.backends.orchestrator.backend",
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
        "names = [m.name for m in pkgutil.walk_packages(b.__path__, 'servedeck.backends.')]\n"
        "assert len(names) > 40, names\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# The source folders and the package each one installs as (pyproject's package-dir).
SOURCE_ROOTS = {"servedeck": "servedeck", "app": "servedeck.app", "widgets": "servedeck.widgets",
                "backends": "servedeck.backends", "lab": "servedeck.lab"}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports, at module level or inside functions."""
    files = {}
    for folder, package in SOURCE_ROOTS.items():
        for f in (root / folder).rglob("*.py"):
            parts = f.relative_to(root / folder).with_suffix("").parts
            files[".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts)))] = f
    graph = {}
    for module, f in files.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            deps |= {n for n in names if n in files and n != module}
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_anywhere():
    """Not even through imports inside functions (config.loader <-> orchestrator.config was one)."""
    graph = import_graph(Path(__file__).resolve().parents[1])
    assert "servedeck.config.document" in graph["servedeck.orchestrator.config"]
    assert cycles(graph) == []
