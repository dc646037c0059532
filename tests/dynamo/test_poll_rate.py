"""Backends whose fast poll rate is for live progress (Dynamo builds, the autotuner) slow
down when nothing is in progress, and speed up again when something is: an idle cockpit
sleeps, a running build still moves every second."""

from __future__ import annotations

from servedeck.backends.dynamo.backend import DynamoBackend, DynamoSettings
from servedeck.backends.dynamo.records import BuildRecord, BuildStore
from servedeck.backends.tuner.backend import TunerBackend, TunerBackendSettings

URL = "unix:///var/run/docker.sock"


def build(state: str) -> BuildRecord:
    return BuildRecord(id="inv-1", invocation="inv", seq=1, count=1, role="framework", framework="vllm",
                       target="dev", tag="dynamo:v0.6.0-vllm", tags=[], base="dynamo-base:v0.6.0", host="rate",
                       url=URL, command="docker build …", state=state)


def test_dynamo_polls_fast_only_while_a_build_is_queued_or_running(tmp_path):
    backend = DynamoBackend(DynamoSettings(name="rate", url=URL, state_dir=str(tmp_path)))
    assert backend.interval == 1.0  # before the first poll: assume something is going on

    backend.poll(frozenset({"builds"}))
    assert backend.interval == 5.0  # no builds at all

    store = BuildStore(tmp_path)
    running = build("running")
    store.claim(running)  # this test's process "runs" it: the record is alive
    store.save(running)
    backend.poll(frozenset({"builds"}))
    assert backend.interval == 1.0

    running.state = "done"
    store.finish(running)
    backend.poll(frozenset({"builds"}))
    assert backend.interval == 5.0


def test_an_action_speeds_dynamo_up_until_the_next_poll(tmp_path):
    backend = DynamoBackend(DynamoSettings(name="rate", url=URL, state_dir=str(tmp_path)))
    backend.poll(frozenset({"builds"}))
    assert backend.interval == 5.0
    store = BuildStore(tmp_path)
    running = build("running")
    store.claim(running)
    store.save(running)  # not polled yet: the backend still idles
    assert backend.interval == 5.0

    result = backend.perform("build.cancel", running)
    assert result.ok and store.cancel_requested(running.id)
    assert backend.interval == 1.0  # what the action changed is watched closely


def test_a_configured_interval_wins_over_the_idle_rate(tmp_path):
    backend = DynamoBackend(DynamoSettings(name="rate", url=URL, state_dir=str(tmp_path), interval=2.0))
    backend.poll(frozenset({"builds"}))
    assert backend.interval == 2.0


def test_the_tuner_backend_slows_down_when_no_tuner_runs(tmp_path):
    backend = TunerBackend(TunerBackendSettings(name="rate-tuner", state_dir=str(tmp_path)))
    assert backend.interval == 1.0
    assert backend.poll(frozenset({"experiments"})) == {"experiments": ()}  # nothing has run here: idle, not down
    assert backend.interval == 5.0
