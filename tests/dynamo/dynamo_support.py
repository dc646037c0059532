"""Helpers of the Dynamo tests (tests/ and this folder are importable; conftest is not)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support import PORT_OFFSET

PREFIX = f"sd{PORT_OFFSET}dyn"  # every image/container a test names starts with this


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def env_without_tokens() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "HF_HOME")}
