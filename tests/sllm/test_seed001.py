"""Seed 001's success criteria, end to end through servedeck's verbs, against the lab's real
Pylet head and worker driven by the sllm head stand-in (its reconciler's submissions)."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from serverless_support import servedeck, until, url_of, verb_json

pytestmark = pytest.mark.integration

MODEL, MODEL_ID = "facebook/opt-125m", "facebook/opt-125m:vllm"


def test_success_criteria(stack):
    # 2. the Pylet worker registers with the Pylet head
    workers = until(lambda: [w for w in verb_json(stack, "pylet", "workers") if w["status"] == "ONLINE"],
                    what="an ONLINE worker")
    # 3. GET /health answers 200 with pylet_connected: true
    health = httpx.get(f"{url_of(stack, 'sllm-head')}/health", timeout=5)
    assert health.status_code == 200 and health.json()["pylet_connected"] is True
    [head] = verb_json(stack, "sllm", "status")
    assert head["state"] == "ok", head["message"]
    assert head["heads"][0]["pylet_connected"] is True and head["heads"][0]["version"] == "v1-beta"
    assert [n["id"] for n in head["nodes"]] == [workers[0]["id"]]

    # 4. POST /register creates the model's entry (in the head's database too)
    reg = servedeck(stack, "sllm", "register", MODEL, "--max-instances", "1")
    assert reg.returncode == 0 and f"registered {MODEL_ID}" in reg.stdout, reg.stderr
    db = sqlite3.connect(stack.dir / "sllm" / "state.db")
    assert db.execute("SELECT model_name, backend, status, max_replicas FROM models WHERE id = ?",
                      (MODEL_ID,)).fetchall() == [(MODEL, "vllm", "active", 1)]
    db.close()
    twice = servedeck(stack, "sllm", "register", MODEL)
    assert twice.returncode == 1 and "already registered" in twice.stderr
    [head] = verb_json(stack, "sllm", "status")
    [model] = head["models"]
    assert model["id"] == MODEL_ID and model["ready"] == 0 and model["instances"] == []

    # 5. a chat for facebook/opt-125m:vllm triggers a cold start; 6. the instance becomes ready and serves
    chat = verb_json(stack, "sllm", "chat", MODEL_ID, "Hello!")
    assert chat["ok"], chat["message"]
    assert not chat["warm"] and chat["instance"].startswith("facebook-opt-125m-") and chat["reply"]
    steps = [what for _, what in chat["events"]]
    order = ["request sent", "Pylet instance PENDING", "Pylet instance ASSIGNED", "Pylet instance RUNNING",
             "healthy", "first token", "response complete"]
    positions = [next(i for i, s in enumerate(steps) if s.startswith(step)) for step in order]
    assert positions == sorted(positions), steps
    times = [t for t, _ in chat["events"]]
    assert times == sorted(times) and chat["first_token_s"] <= chat["total_s"]

    # the real Pylet runs what the reconciler submitted: sllm-store on the worker, then vLLM
    instances = {r["kind"]: r for r in verb_json(stack, "pylet", "instances")}
    store, engine = instances["sllm-store"], instances["inference"]
    assert store["name"] == f"sllm-store-{workers[0]['id']}" and store["status"] == "RUNNING"
    assert sorted(store["gpu_indices"]) == [0, 1]
    assert engine["name"] == chat["instance"] and engine["model"] == MODEL_ID and engine["status"] == "RUNNING"
    assert engine["command"].startswith(f"vllm serve ") and f"--served-model-name {MODEL} --port $PORT" in engine["command"]

    # 7. GET /status shows it: the model joined to its Pylet instance and worker
    [head] = verb_json(stack, "sllm", "status")
    [model] = head["models"]
    assert model["instances"] == [engine["name"]] and model["workers"] == [workers[0]["id"][:8]]
    assert model["pylet_states"] == ["RUNNING"]
    status = httpx.get(f"{url_of(stack, 'sllm-head')}/status", timeout=5).json()
    assert status["models"][0]["id"] == MODEL_ID
    node = until(lambda: [n for n in verb_json(stack, "sllm", "status")[0]["nodes"] if n["cached_models"]],
                 what="sllm-store reporting its cached models")[0]
    assert node["cached_models"] == [MODEL] and node["sllm_store_endpoint"] == store["endpoint"]

    # once the instance runs, a request is warm
    warm = until(lambda: (lambda c: c if c["ok"] else None)(verb_json(stack, "sllm", "chat", MODEL_ID, "again")),
                 timeout=60, what="a second answer")
    assert warm["warm"] and "Pylet instance PENDING" not in [w for _, w in warm["events"]]


def test_error_returned_with_status_200_is_an_error(stack):
    until(lambda: verb_json(stack, "sllm", "status")[0]["models"], what="the registered model")
    # vLLM refuses more tokens than the model's context; the head relays that with HTTP 200
    result = servedeck(stack, "sllm", "chat", MODEL_ID, "Hello!", "--max-tokens", "5000")
    assert result.returncode == 1
    assert "FAILED: error returned with HTTP 200: This model's maximum context length is 2048" in result.stderr


def test_unknown_model_and_readonly(stack):
    result = servedeck(stack, "sllm", "chat", "nobody/none:vllm", "hi")
    assert result.returncode == 1 and "not found" in result.stderr
    refused = servedeck(stack, "--readonly", "sllm", "register", "facebook/opt-1.3b")
    assert refused.returncode == 3 and "read-only" in refused.stderr
    bad = servedeck(stack, "sllm", "register", MODEL, "--min-instances", "3", "--max-instances", "1")
    assert bad.returncode == 1 and "min (3) <= max (1)" in bad.stderr
