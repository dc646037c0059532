"""The head's known bugs as the cockpit shows them, against the stand-in head (which keeps
28fffaf's broken cancel) and the real Pylet: after a cold start the scale-down to zero never
takes effect, so ready replicas flap; a delete stays `deleting` until the model's instances
are gone from Pylet, which the operator can do from servedeck. Runs after test_seed001."""

from __future__ import annotations

import time

import pytest

from servedeck.backends.base import PartialPoll
from servedeck.backends.sllm.backend import SllmBackend, SllmSettings
from serverless_support import servedeck, until, url_of, verb_json

pytestmark = pytest.mark.integration

MODEL_ID = "facebook/opt-125m:vllm"


def _model(backend: SllmBackend):
    try:
        panes = backend.poll(frozenset({"sllm_models"}))
    except PartialPoll as exc:
        panes = exc.panes
    return next((m for m in panes.get("sllm_models", ()) if m.id == MODEL_ID), None)


def test_flapping_then_stuck_delete_then_cleared_through_pylet(stack):
    backend = SllmBackend(SllmSettings(name="t", url=url_of(stack, "sllm-head"), pylet_url=url_of(stack, "pylet-head")))
    backend.watch.stuck_after_s = 5
    try:
        if _model(backend) is None or not _model(backend).instances:
            assert servedeck(stack, "sllm", "register", "facebook/opt-125m").returncode in (0, 1)
            assert verb_json(stack, "sllm", "chat", MODEL_ID, "warm me")["ok"]
        flapping = until(lambda: (lambda m: m if m and m.status.startswith("flapping") else None)(_model(backend)),
                         timeout=90, pause=0.5, what="the model shown flapping")
        assert flapping.status == "flapping 0↔1" and "ready replicas changed" in flapping.problem
        assert flapping.desired == 0 and flapping.instances  # scaled to zero, yet the instance runs on

        deleted = servedeck(stack, "sllm", "delete", MODEL_ID, "--yes")
        assert deleted.returncode == 0 and "HTTP 202, deleting" in deleted.stdout, deleted.stderr
        stuck = until(lambda: (lambda m: m if m and "stuck" in m.status else None)(_model(backend)),
                      timeout=30, pause=0.5, what="the delete shown stuck")
        assert stuck.state == "deleting" and "Pylet instances" in stuck.problem
        time.sleep(4)  # the head keeps failing to cancel: nothing changes by itself
        assert "stuck" in _model(backend).status

        for row in verb_json(stack, "pylet", "instances"):
            if row["model"] == MODEL_ID:
                assert servedeck(stack, "pylet", "cancel", row["id"], "--yes").returncode == 0
                until(lambda: [r for r in verb_json(stack, "pylet", "instances")
                               if r["id"] == row["id"] and r["status"] == "CANCELLED"], what="CANCELLED")
                assert servedeck(stack, "pylet", "delete", row["id"], "--yes").returncode == 0
        until(lambda: _model(backend) is None, timeout=30, what="the model gone once Pylet has no instance of it")
    finally:
        backend.close()
