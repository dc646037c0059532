"""A squeue --json answer that cannot be parsed does not switch the backend to the text
format for the rest of the session: the next poll asks for JSON again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from servedeck.backends.base import BackendError
from servedeck.backends.slurm.backend import SlurmBackend, SlurmSettings

DATA = Path(__file__).parent / "data"

FAKE_SQUEUE = """#!/bin/sh
# A stand-in squeue: logs its arguments; the first --json call prints a cut-off document.
echo "$*" >> "$SQUEUE_LOG"
case "$*" in
  *--json*)
    n=$(grep -c -- --json "$SQUEUE_LOG")
    if [ "$n" = 1 ]; then head -c 300 "$SQUEUE_JSON"; else cat "$SQUEUE_JSON"; fi ;;
  *) echo "42|debug|text-job|root|RUNNING|0:05|1:00:00|1|node1" ;;
esac
"""


@pytest.fixture
def fake_squeue(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "squeue"
    script.write_text(FAKE_SQUEUE)
    script.chmod(0o755)
    log = tmp_path / "squeue.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SQUEUE_LOG", str(log))
    monkeypatch.setenv("SQUEUE_JSON", str(DATA / "squeue_22.05.json"))
    return log


def test_a_cut_off_json_answer_does_not_switch_to_text_for_good(fake_squeue):
    backend = SlurmBackend(SlurmSettings(name="here"))
    expected = {job["job_id"] for job in json.loads((DATA / "squeue_22.05.json").read_text())["jobs"]}
    first = backend._jobs()  # the cut-off JSON: this poll falls back to the text format
    assert [row.name for row in first] == ["text-job"]
    second = backend._jobs()
    assert {int(row.job_id) for row in second} == expected  # JSON again, and it parses
    calls = fake_squeue.read_text().splitlines()
    assert [("--json" in c) for c in calls] == [True, False, True]


def test_once_json_worked_a_cut_off_answer_is_an_error_not_a_mode_change(fake_squeue, monkeypatch):
    backend = SlurmBackend(SlurmSettings(name="here"))
    fake_squeue.write_text("--json (earlier)\n")  # the next --json call is the second: whole
    assert backend._jobs()
    fake_squeue.write_text("")  # the next one is the first again: cut off
    with pytest.raises(BackendError, match="could not be read"):
        backend._jobs()
    assert len(backend._jobs()) > 0  # and the next poll reads JSON again
    assert all("--json" in c for c in fake_squeue.read_text().splitlines())
