"""`servedeck events`: the file the cockpit appends to, as text, JSON and followed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from servedeck.overview.events import Event, EventFeed


def run(args, state_dir, **kw):
    return subprocess.Popen([sys.executable, "-m", "servedeck", "events", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "SERVEDECK_STATE_DIR": str(state_dir)}, **kw)


def test_events_prints_the_last_ones_as_text_or_json_and_follows_new_ones(tmp_path):
    feed = EventFeed(tmp_path / "events.jsonl")
    feed.record([Event(1_700_000_000.0 + i, "job.ended", "cl", f"job {i}", "ended FAILED", "crit", "jobs") for i in range(5)])
    out, _ = run(["--limit", "2"], tmp_path).communicate(timeout=60)
    assert [line.split()[-3] for line in out.splitlines()] == ["3:", "4:"]  # oldest first, last two
    out, _ = run(["--json", "--limit", "0"], tmp_path).communicate(timeout=60)
    assert [json.loads(line)["subject"] for line in out.splitlines()] == [f"job {i}" for i in range(5)]
    follower = run(["--follow", "--json", "--limit", "1"], tmp_path)
    try:
        assert json.loads(follower.stdout.readline())["subject"] == "job 4"
        time.sleep(0.5)
        feed.record([Event(1_700_000_100.0, "tunnel.reconnected", "tu", "tunnel t1", "down -> up")])
        assert json.loads(follower.stdout.readline())["kind"] == "tunnel.reconnected"
    finally:
        follower.kill()
        follower.communicate(timeout=10)


def test_no_events_yet_says_where_it_looked(tmp_path):
    proc = run([], tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == "" and str(tmp_path / "events.jsonl") in err


def test_attention_verb_lists_a_down_backend_and_exits_1(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text('backends:\n  router:\n    - {name: gone, url: "http://127.0.0.1:9"}\n')
    proc = subprocess.run([sys.executable, "-m", "servedeck", "attention", "--json", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "SERVEDECK_STATE_DIR": str(tmp_path)})
    items = json.loads(proc.stdout)
    assert proc.returncode == 1 and [(i["rule"], i["subject"], i["pane"]) for i in items] == [
        ("backend_down", "router gone down", "backends")]
