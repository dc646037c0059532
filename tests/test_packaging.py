"""servedeck installed from a wheel into a fresh venv works, styles included."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from firstframe import first_frame_seconds  # noqa: E402


# Source folders and the installed package each one becomes (pyproject's package-dir).
SOURCE_ROOTS = {"servedeck": "servedeck", "app": "servedeck.app", "widgets": "servedeck.widgets",
                "backends": "servedeck.backends", "styles": "servedeck.styles", "lab": "servedeck.lab"}


def source_packages() -> set[str]:
    """Every folder with an __init__.py under the source roots, as its installed name."""
    names = set()
    for folder, package in SOURCE_ROOTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            names.add(".".join((package, *rel)))
    return names


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = (work / "dist").glob("servedeck-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run([env_dir / "bin" / "python", "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    return env_dir


@pytest.mark.slow
def test_wheel_ships_the_styles_and_the_command(wheel_venv, tmp_path):
    py = wheel_venv / "bin" / "python"
    css = subprocess.run(
        [py, "-c", "from importlib.resources import files; print((files('servedeck.styles') / 'servedeck.tcss').is_file())"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.strip()
    assert css == "True"
    out = subprocess.run([wheel_venv / "bin" / "servedeck", "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.startswith("servedeck ")
    # No top-level `app`/`widgets`/`backends` packages leak into site-packages.
    leaked = subprocess.run([py, "-c", "import importlib.util as u; print([m for m in ('app','widgets','backends','styles','lab') if u.find_spec(m)])"],
                            capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    assert leaked == "[]"
    # Every package of the source tree made it into the wheel (one per system in backends/),
    # and every built-in entry point resolves there.
    packages = sorted(source_packages())
    subprocess.run([py, "-c", f"import importlib; [importlib.import_module(m) for m in {packages!r}]"],
                   check=True, cwd=tmp_path)
    subprocess.run([py, "-c", "from importlib.metadata import entry_points as e; "
                    "[ep.load() for ep in e(group='servedeck.backends')]"], check=True, cwd=tmp_path)
    # ...and its data files: the helper image's definition and init script, the unit example.
    data = subprocess.run(
        [py, "-c", "from importlib.resources import files as f; print("
         "(f('servedeck.helper') / 'init-run.sh').is_file(), (f('servedeck.helper') / 'Dockerfile').is_file(), "
         "(f('servedeck.orchestrator') / 'examples' / 'sgorch.service').is_file())"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.split()
    assert data == ["True", "True", "True"]


@pytest.mark.slow
def test_wheel_install_opens_the_cockpit(wheel_venv, tmp_path):
    """The installed cockpit paints its first frame (styles load, entry points resolve)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("backends:\n  router:\n    - {name: nowhere, url: 'http://127.0.0.1:9'}\n")
    seconds = first_frame_seconds(
        [str(wheel_venv / "bin" / "servedeck"), "--config", str(cfg)], b"nowhere", env={"HOME": str(tmp_path)}
    )
    assert seconds > 0
