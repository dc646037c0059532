"""The Pylet verbs against the lab's real Pylet head and worker (PyPI pylet 0.5.0)."""

from __future__ import annotations

import pytest

from serverless_support import instance, servedeck, submit, until, url_of, verb_json

pytestmark = pytest.mark.integration


def test_worker_registers_with_fake_gpus(stack):
    workers = until(lambda: [w for w in verb_json(stack, "pylet", "workers") if w["status"] == "ONLINE"],
                    what="an ONLINE Pylet worker")
    assert len(workers) == 1
    worker = workers[0]
    assert worker["backend"] == "lab-pylet" and worker["host"] == "127.0.0.1"
    assert worker["gpus_total"] == 2 and worker["cpu_cores"] == 4 and worker["memory_bytes"] == 8192 * 2**20
    assert worker["last_seen_at"] is not None
    table = servedeck(stack, "pylet", "workers")
    assert table.returncode == 0 and worker["id"] in table.stdout and "ONLINE" in table.stdout


def test_instance_list_logs_cancel_delete(stack):
    pylet = url_of(stack, "pylet-head")
    iid = submit(pylet, "echo hello from $PORT on gpu $CUDA_VISIBLE_DEVICES; sleep 120", name="verb-test")
    row = until(lambda: next((r for r in verb_json(stack, "pylet", "instances")
                              if r["id"] == iid and r["status"] == "RUNNING"), None), what="instance RUNNING")
    assert row["name"] == "verb-test" and row["labels"] == "type=test" and len(row["gpu_indices"]) == 1
    assert row["endpoint"].startswith("127.0.0.1:") and row["worker"]
    gpu = row["gpu_indices"][0]
    logs = until(lambda: servedeck(stack, "pylet", "logs", "verb-test").stdout, what="the instance's output")
    assert f"hello from {row['endpoint'].split(':')[1]} on gpu {gpu}" in logs

    refused = servedeck(stack, "--readonly", "pylet", "cancel", iid, "--yes")
    assert refused.returncode == 3 and "read-only" in refused.stderr
    assert servedeck(stack, "pylet", "cancel", iid).returncode == 3  # no terminal, no --yes: not confirmed
    assert instance(pylet, iid)["status"] == "RUNNING"

    done = servedeck(stack, "pylet", "cancel", iid[:8], "--yes")
    assert done.returncode == 0, done.stderr
    until(lambda: instance(pylet, iid)["status"] == "CANCELLED", what="instance CANCELLED")
    again = servedeck(stack, "pylet", "cancel", iid, "--yes")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == ["pylet refused: Instance already in terminal state: CANCELLED"]

    gone = servedeck(stack, "pylet", "delete", iid, "--yes")
    assert gone.returncode == 0 and "deleted" in gone.stdout
    assert all(r["id"] != iid for r in verb_json(stack, "pylet", "instances"))
    missing = servedeck(stack, "pylet", "delete", iid, "--yes")
    assert missing.returncode == 1 and "no Pylet head has an instance" in missing.stderr


def test_follow_logs_ends_with_the_instance(stack):
    pylet = url_of(stack, "pylet-head")
    submit(pylet, "for i in 1 2 3; do echo line $i; sleep 0.5; done", name="follow-test", gpus=0)
    result = servedeck(stack, "pylet", "logs", "follow-test", "-f", timeout=60)
    assert [line for line in result.stdout.splitlines()] == ["line 1", "line 2", "line 3"]
    assert "instance is COMPLETED; end of log" in result.stderr
