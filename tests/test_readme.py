"""The README's promises: its example config is valid, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from servedeck.config import load_text

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_example_config_validates():
    (block,) = re.findall(r"```yaml\n(.*?)```", README, re.S)
    loaded = load_text(block, "README.md")
    assert {t.kind for t in loaded.targets} == {"docker", "prometheus", "slurm", "router"}


def test_readme_commands_exist_and_ci_runs_the_test_command():
    assert "bash scripts/cockpit.sh" in README and "bash scripts/test.sh" in README
    assert (ROOT / "scripts" / "cockpit.sh").is_file() and (ROOT / "scripts" / "test.sh").is_file()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
