"""The sllm backend's own logic: the model watch (flapping, stuck delete), register input,
errors that come with HTTP 200, and a poll over a recorded head (httpx.MockTransport)."""

from __future__ import annotations

import httpx
import pytest

from servedeck.backends.base import Health
from servedeck.backends.runner import BackendRunner
from servedeck.backends.sllm.backend import SllmBackend, SllmSettings
from servedeck.backends.sllm.register import RegisterInputError, parse_prompt
from servedeck.backends.sllm.rows import error_in_body
from servedeck.backends.sllm.watch import ModelWatch

STATUS = {"models": [
    {"id": "facebook/opt-125m:vllm", "status": "active", "desired_replicas": 1, "ready_replicas": 1,
     "starting_replicas": 0, "instances": [{"id": "caaec224", "node": "a64864b7", "endpoint": "127.0.0.1:15675",
                                            "status": "running"}]},
    {"id": "facebook/opt-350m:vllm", "status": "deleting", "desired_replicas": 0, "ready_replicas": 0,
     "starting_replicas": 0, "instances": []}],
    "nodes": [{"name": "a64864b7", "host": "127.0.0.1", "status": "online", "total_gpus": 2, "available_gpus": 2,
               "sllm_store_endpoint": "127.0.0.1:15674", "cached_models": ["facebook/opt-125m"]}]}
MODELS = {"object": "list", "models": [
    {"id": "facebook/opt-125m:vllm", "model": "facebook/opt-125m", "backend": "vllm", "status": "active",
     "desired_replicas": 1, "ready_replicas": 1, "min_replicas": 0, "max_replicas": 2},
    {"id": "facebook/opt-350m:vllm", "model": "facebook/opt-350m", "backend": "vllm", "status": "deleting",
     "desired_replicas": 0, "ready_replicas": 0, "min_replicas": 0, "max_replicas": 1}]}


class RecordedHead:
    def __init__(self):
        self.connected = True
        self.registered: list[dict] = []
        self.chat_answer: tuple[int, dict] = (200, {"choices": [{"message": {"content": "hi there"}}]})
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/health":
            return httpx.Response(200, json={"status": "ok", "version": "v1-beta", "pylet_connected": self.connected})
        if path == "/status":
            return httpx.Response(200, json=STATUS)
        if path == "/v1/models":
            return httpx.Response(200, json=MODELS)
        if path == "/register":
            body = httpx.Request("POST", "/", content=request.content).read()
            import json
            doc = json.loads(body)
            if any(r["model"] == doc["model"] for r in self.registered):
                return httpx.Response(409, json={"detail": f"Model {doc['model']}:vllm already registered"})
            self.registered.append(doc)
            return httpx.Response(200, json={"model_id": f"{doc['model']}:{doc['backend']}", "status": "active"})
        if path.startswith("/delete/"):
            return httpx.Response(202, json={"status": "deleting"})
        if path == "/v1/chat/completions":
            return httpx.Response(self.chat_answer[0], json=self.chat_answer[1])
        return httpx.Response(404, json={"detail": "Not Found"})


def backend(head: RecordedHead) -> SllmBackend:
    return SllmBackend(SllmSettings(name="s", url="http://sllm.test"), transport=head.transport)


def test_one_cold_start_and_scale_to_zero_is_no_flap():
    watch = ModelWatch()
    for t, (desired, ready) in enumerate([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0), (0, 0)]):
        status, problem = watch.observe("m", "active", desired, ready, float(t))
    assert (status, problem) == ("active", "")


def test_ready_replicas_bouncing_is_a_flap_and_it_ages_out():
    watch = ModelWatch(window_s=60)
    for t, ready in enumerate([0, 1, 0, 1, 0]):
        status, problem = watch.observe("m", "active", 0, ready, t * 6.0)
    assert status == "flapping 0↔1" and "ready replicas changed 4 times in 60s" in problem
    assert watch.observe("m", "active", 0, 0, 200.0) == ("active", "")


def test_delete_shown_stuck_after_a_while():
    watch = ModelWatch(stuck_after_s=30)
    assert watch.observe("m", "deleting", 0, 0, 0.0) == ("deleting", "")
    assert watch.observe("m", "deleting", 0, 0, 29.0) == ("deleting", "")
    status, problem = watch.observe("m", "deleting", 0, 0, 95.0)
    assert status == "deleting (stuck 1m35s)" and "Pylet instances" in problem


def test_register_prompt():
    r = parse_prompt("facebook/opt-125m backend=vllm min=1 max=3 keep_alive=60 tp=2")
    assert r.body() == {"model": "facebook/opt-125m", "backend": "vllm",
                        "backend_config": {"tensor_parallel_size": 2},
                        "auto_scaling_config": {"min_instances": 1, "max_instances": 3, "keep_alive_seconds": 60}}
    assert parse_prompt("m").model_id == "m:vllm"
    for bad, said in [("", "type model"), ("m max=x", "not a whole number"), ("m gpus=2", "expected one of"),
                      ("m min=2 max=1", "min (2) <= max (1)"), ("m tp=0", "tp must be")]:
        with pytest.raises(RegisterInputError, match=said.replace("(", r"\(").replace(")", r"\)")):
            parse_prompt(bad)


def test_errors_in_a_200_body():
    assert error_in_body({"object": "error", "message": "The model `x:vllm` does not exist.", "code": 404}) \
        == "The model `x:vllm` does not exist."
    assert error_in_body({"error": {"message": "backend  failed"}}) == "backend failed"
    assert error_in_body({"error": "boom"}) == "boom"
    assert error_in_body({"detail": "Model x not found"}) == "Model x not found"
    assert error_in_body({"choices": [{"message": {"content": "ok"}}]}) == ""


def test_poll_joins_and_flags():
    head = RecordedHead()
    runner = BackendRunner(backend(head))
    snap = runner.poll_once(frozenset({"sllm_models", "sllm_nodes", "sllm_heads"}))
    assert snap.state.health is Health.OK
    ready, deleting = snap.panes["sllm_models"]
    assert (ready.replicas, ready.min_replicas, ready.max_replicas, ready.endpoints) == ("1/1", 0, 2, ("127.0.0.1:15675",))
    assert deleting.status == "deleting" and deleting.backend == "vllm"
    [node] = snap.panes["sllm_nodes"]
    assert node.gpus == "2/2" and node.cached_models == ("facebook/opt-125m",)
    head.connected = False
    snap = runner.poll_once(frozenset({"sllm_models"}))
    assert snap.state.health is Health.DEGRADED and "pylet_connected: false" in snap.state.message
    assert snap.panes["sllm_heads"][0].pylet_connected is False


def test_actions_report_the_heads_words():
    head = RecordedHead()
    b = backend(head)
    assert b.perform("model.register", None, "facebook/opt-125m max=2").message == "registered facebook/opt-125m:vllm (active)"
    assert head.registered[0]["auto_scaling_config"]["max_instances"] == 2
    again = b.perform("model.register", None, "facebook/opt-125m")
    assert not again.ok and again.message == "facebook/opt-125m:vllm is already registered"
    assert not b.perform("model.register", None, "x min=5").ok
    row = type("Row", (), {"id": "facebook/opt-125m:vllm"})()
    assert b.perform("model.delete", row).message == "delete of facebook/opt-125m:vllm accepted (HTTP 202, deleting)"
    result = b.perform("model.chat", row)
    assert result.ok and "hi there" in result.follow_up.text
    head.chat_answer = (200, {"object": "error", "message": "The model `facebook/opt-125m:vllm` does not exist.",
                              "type": "NotFoundError", "code": 404})
    result = b.perform("model.chat", row)
    assert not result.ok
    assert result.message == ("error returned with HTTP 200: The model `facebook/opt-125m:vllm` does not exist.")
    assert "FAILED" in result.follow_up.text


def test_timeline_says_where_a_cold_start_spends_its_time():
    from servedeck.backends.sllm.coldstart import ChatOutcome

    outcome = ChatOutcome("m", ok=True, streamed=True, instance="m-1", events=[
        (0.0, "request sent"), (2.0, "Pylet instance PENDING"), (2.0, "Pylet instance ASSIGNED on ab"),
        (2.5, "Pylet instance RUNNING"), (6.0, "healthy (e/health 200)"), (8.5, "first token"),
        (9.0, "response complete")])
    assert outcome.where_time_went() == [
        ("head: reconciler and sllm-store", 2.0), ("Pylet: scheduling and start", 0.5), ("engine: loading", 3.5),
        ("head: routing the buffered request", 2.5), ("engine: generating", 0.5)]
    text = outcome.render()
    assert "cold start: Pylet instance m-1" in text and "+   6.00s  (+ 3.50s)  healthy" in text
    warm = ChatOutcome("m", ok=True, warm=True, streamed=True, events=[(0.0, "request sent"), (0.1, "first token"),
                                                                         (0.7, "response complete")])
    assert warm.where_time_went() == [] and "warm: an instance of the model was already running" in warm.render()
