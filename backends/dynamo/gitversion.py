"""The version string build.sh derives from the checkout's git, by the same git commands.

`commit_id` is `git rev-parse --short HEAD`; a tag on HEAD (`git describe --tags
--exact-match`) wins; else the newest tag reachable from `git rev-list --tags
--max-count=1 main`, with `.dev.<commit>` appended. No tag (or no local `main`): 0.0.1.
Running git itself (rather than re-implementing describe) keeps abbreviation length and
tag choice exactly what the script gets.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

UNKNOWN_VERSION = "0.0.1"


class NotACheckout(Exception):
    """`git rev-parse` failed: build.sh stops here (set -e) with git's status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class GitVersion:
    commit_id: str
    current_tag: str  # "" when HEAD carries no tag
    latest_tag: str  # "" when git found none (the script then uses 0.0.1)

    @property
    def no_tag_found(self) -> bool:
        return not self.latest_tag

    @property
    def version(self) -> str:
        latest = self.latest_tag or UNKNOWN_VERSION
        return "v" + (self.current_tag or f"{latest}.dev.{self.commit_id}")

    @property
    def python_package_version(self) -> str:
        latest = self.latest_tag or UNKNOWN_VERSION
        return self.current_tag or f"{latest}.dev+{self.commit_id}"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30)


def _drop_v(text: str) -> str:
    """`sed 's/^v//'` on the first line."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[1:] if line.startswith("v") else line


def read_version(repo: Path) -> GitVersion:
    head = _git(repo, "rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        raise NotACheckout(head.stderr.strip() or f"{repo}: not a git checkout", head.returncode)
    exact = _git(repo, "describe", "--tags", "--exact-match")
    current = _drop_v(exact.stdout) if exact.returncode == 0 else ""
    newest = _git(repo, "rev-list", "--tags", "--max-count=1", "main")
    target = newest.stdout.strip() if newest.returncode == 0 else ""
    described = _git(repo, "describe", "--tags", "--abbrev=0", target)
    latest = _drop_v(described.stdout) if described.returncode == 0 else ""
    return GitVersion(commit_id=head.stdout.strip(), current_tag=current, latest_tag=latest)
