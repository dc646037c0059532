"""The stand-ins on their own (no lab): honest queueing, metrics and HTTP surface."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from servedeck.lab.standin_dcgm import GpuFleet
from servedeck.lab.standin_engine import EngineSettings, PrefixCache, StandinEngine
from servedeck.lab.standin_sglang import StandinServer


def sample(engine: StandinEngine, name: str) -> float:
    from prometheus_client import generate_latest

    for family in text_string_to_metric_families(generate_latest(engine.registry).decode()):
        for s in family.samples:
            if s.name == name:
                return s.value
    raise KeyError(name)


def test_requests_beyond_max_running_wait_in_the_queue() -> None:
    engine = StandinEngine(EngineSettings(tokens_per_second=200, max_running_requests=1))
    first = engine.generate("a b c", 50)
    next(first)  # holds the only slot
    started = threading.Event()

    def second() -> None:
        started.set()
        list(engine.generate("d e", 2))

    t = threading.Thread(target=second)
    t.start()
    started.wait()
    for _ in range(200):
        if sample(engine, "sglang:num_queue_reqs") == 1:
            break
        threading.Event().wait(0.01)
    assert sample(engine, "sglang:num_running_reqs") == 1
    assert sample(engine, "sglang:num_queue_reqs") == 1
    list(first)
    t.join(10)
    assert sample(engine, "sglang:num_queue_reqs") == 0
    assert sample(engine, "sglang:generation_tokens_total") == 52
    assert sample(engine, "sglang:prompt_tokens_total") == 5
    assert sample(engine, "sglang:e2e_request_latency_seconds_count") == 2


def test_repeated_prompt_prefixes_count_as_cache_hits() -> None:
    cache = PrefixCache()
    assert cache.lookup_and_insert("the system prompt then A".split()) == 0
    assert cache.lookup_and_insert("the system prompt then B".split()) == 4
    assert cache.lookup_and_insert("other".split()) == 0


@pytest.fixture()
def worker() -> str:
    engine = StandinEngine(EngineSettings(model_name="m-standin", tokens_per_second=500))
    server = StandinServer(("127.0.0.1", 0), engine, startup_delay=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def post(url: str, body: dict) -> bytes:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def test_worker_says_it_is_a_standin(worker: str) -> None:
    with urllib.request.urlopen(f"{worker}/get_server_info", timeout=5) as resp:
        info = json.load(resp)
    assert info["standin"] is True and info["model_path"] == "m-standin"


def test_streaming_chat_sends_sse_chunks_then_done(worker: str) -> None:
    raw = post(f"{worker}/v1/chat/completions",
               {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True})
    events = [line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len([c for c in chunks if c["choices"][0]["delta"]["content"]]) == 4
    assert chunks[-1]["usage"]["completion_tokens"] == 4


def test_generate_reports_meta_info(worker: str) -> None:
    out = json.loads(post(f"{worker}/generate", {"text": "x y", "sampling_params": {"max_new_tokens": 3}}))
    assert len(out["text"].split()) == 3 and out["meta_info"]["completion_tokens"] == 3


def test_health_is_503_while_starting() -> None:
    engine = StandinEngine(EngineSettings())
    server = StandinServer(("127.0.0.1", 0), engine, startup_delay=3600)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/health", timeout=5)
        assert err.value.code == 503
        err.value.close()
    finally:
        server.shutdown()
        server.server_close()


def test_idle_gpus_follow_an_unreachable_worker_to_zero() -> None:
    fleet = GpuFleet(2, "h", ["http://127.0.0.1:9/metrics"])
    fleet.step()
    text = fleet.render()
    assert 'DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-standin-h-0001"' in text
    assert fleet.util == [0.0, 0.0] and fleet.mem_frac == [0.0, 0.0]
