"""Pylet and sllm benchmarks.

- pylet_poll_1000: one poll of the Pylet backend (GET /instances + GET /workers, parsed
  into rows) when the head lists 1,000 instances; the answer is the recorded one
  (tests/pylet/data/recorded.json) repeated with fresh ids, served by httpx.MockTransport
  so only servedeck's own cost is measured.
- pylet_render_1000: the instances pane showing those 1,000 rows for the first time, and
  again after one row changed (the table's diffed update), in a headless app.
- sllm_cold_start: on the lab's real Pylet and the sllm head stand-in, a cold start as the
  cockpit's test request shows it (its timeline: Pylet PENDING/ASSIGNED/RUNNING, healthy,
  first token) side by side with a plain client's stopwatch on a request sent at the same
  moment (time to first streamed token and to the last byte). Between repeats the model
  is deleted and its Pylet instances removed, so every repeat is a cold start.
"""

from __future__ import annotations

import asyncio
import copy
import json
import statistics
import threading
import time
import uuid
from pathlib import Path

import httpx

RECORDED = Path(__file__).resolve().parent.parent / "tests" / "pylet" / "data" / "recorded.json"
MODEL, MODEL_ID = "facebook/opt-125m", "facebook/opt-125m:vllm"


def _answer(n: int) -> tuple[list, list]:
    data = json.loads(RECORDED.read_text())
    instances = []
    for i in range(n):
        item = copy.deepcopy(data["instances"][i % len(data["instances"])])
        item["instance_id"] = str(uuid.UUID(int=i + 1))
        item["name"] = f"{item['name']}-{i}"
        instances.append(item)
    return data["workers"], instances


def _transport(n: int) -> httpx.MockTransport:
    workers, instances = _answer(n)
    w, i = json.dumps(workers).encode(), json.dumps(instances).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        body = w if request.url.path == "/workers" else i
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})
    return httpx.MockTransport(handle)


def _stats(samples: list[float]) -> dict:
    return {"median_s": round(statistics.median(samples), 4), "min_s": round(min(samples), 4),
            "max_s": round(max(samples), 4), "samples": [round(s, 4) for s in samples]}


def _backend(n: int):
    from servedeck.backends.pylet.backend import PyletBackend, PyletSettings

    return PyletBackend(PyletSettings(name="bench", url="http://pylet.bench"), transport=_transport(n))


def measure_pylet_poll(config: Path, repeat: int) -> dict:
    from servedeck.backends.base import PartialPoll

    backend, samples, rows = _backend(1000), [], 0
    wanted = frozenset({"pylet_workers", "pylet_instances"})
    for _ in range(max(repeat, 5)):
        started = time.perf_counter()
        try:
            panes = backend.poll(wanted)
        except PartialPoll as exc:  # the recorded answer has an OFFLINE worker
            panes = exc.panes
        samples.append(time.perf_counter() - started)
        rows = len(panes["pylet_instances"])
    backend.close()
    return {"instances": rows, **_stats(samples)}


def measure_pylet_render(config: Path, repeat: int) -> dict:
    from dataclasses import replace

    from servedeck.app.main_app import ServedeckApp
    from servedeck.backends.base import PartialPoll
    from servedeck.backends.fleet import Fleet
    from servedeck.backends.runner import BackendRunner
    from servedeck.config import load_text

    first, update = [], []
    for _ in range(max(repeat, 3)):
        backend = _backend(1000)
        try:
            rows = backend.poll(frozenset({"pylet_instances"}))["pylet_instances"]
        except PartialPoll as exc:
            rows = exc.panes["pylet_instances"]
        settings = backend.settings.model_copy(update={"interval": 3600})
        backend.settings = settings
        app = ServedeckApp(load_text("ui: {start_pane: pylet_instances}\n", "bench.yaml"),
                           fleet=Fleet([BackendRunner(backend)]))

        async def run() -> None:
            async with app.run_test(size=(160, 45)) as pilot:
                table = app._table("pylet_instances")
                await pilot.pause(0.5)
                table.show([])
                await pilot.pause()
                started = time.perf_counter()
                table.show([("bench", r) for r in rows])
                await pilot.pause()
                first.append(time.perf_counter() - started)
                changed = list(rows)
                changed[500] = replace(changed[500], status="CANCELLING")
                started = time.perf_counter()
                table.show([("bench", r) for r in changed])
                await pilot.pause()
                update.append(time.perf_counter() - started)
                assert table.row_count == 1000
        asyncio.run(run())
    return {"rows": 1000, "first_show": _stats(first), "one_row_changed": _stats(update)}


def _urls(config: Path) -> tuple[str, str]:
    import yaml

    data = yaml.safe_load(config.read_text())["backends"]
    return data["sllm"][0]["url"], data["pylet"][0]["url"]


def _clear(sllm: str, pylet: str) -> None:
    """No model, no Pylet instance of it: the next request is a cold start (the head's
    broken cancel means its instances are removed through Pylet, as an operator would)."""
    httpx.delete(f"{sllm}/delete/{MODEL_ID}", timeout=5)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        mine = [i for i in httpx.get(f"{pylet}/instances", timeout=5).json()
                if (i.get("labels") or {}).get("model_id") == MODEL_ID]
        for inst in mine:
            if inst["status"] not in ("COMPLETED", "FAILED", "CANCELLED"):
                httpx.post(f"{pylet}/instances/{inst['instance_id']}/cancel", timeout=5)
            else:
                httpx.delete(f"{pylet}/instances/{inst['instance_id']}", timeout=5)
        listed = httpx.get(f"{sllm}/v1/models", timeout=5).json()["models"]
        if not mine and not any(m["id"] == MODEL_ID for m in listed):
            return
        time.sleep(0.5)
    raise RuntimeError("could not clear the model between repeats")


def _client(sllm: str, out: dict) -> None:
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": "bench"}], "max_tokens": 16, "stream": True}
    started = time.perf_counter()
    with httpx.stream("POST", f"{sllm}/v1/chat/completions", json=body, timeout=180) as response:
        for line in response.iter_lines():
            if "first_token_s" not in out and line.startswith("data:") and '"content": "' in line \
                    and '"content": ""' not in line:
                out["first_token_s"] = time.perf_counter() - started
    out["total_s"] = time.perf_counter() - started


def measure_sllm_cold_start(config: Path, repeat: int) -> dict:
    from servedeck.backends.sllm.backend import SllmBackend, SllmSettings
    from servedeck.backends.sllm.register import Registration

    sllm, pylet = _urls(config)
    backend = SllmBackend(SllmSettings(name="bench", url=sllm, pylet_url=pylet))
    runs = []
    try:
        for _ in range(max(1, min(repeat, 3))):
            _clear(sllm, pylet)
            assert backend.register(Registration(MODEL, max_instances=1)).ok
            client: dict = {}
            thread = threading.Thread(target=_client, args=(sllm, client))
            thread.start()
            outcome = backend.chat(MODEL_ID, "bench")
            thread.join(200)
            steps = {what.split(" on ")[0].split(" (")[0]: t for t, what in outcome.events}
            runs.append({"cockpit": {"first_token_s": round(outcome.first_token_s or -1, 3),
                                     "complete_s": round(outcome.total_s or -1, 3),
                                     "steps_s": {k: round(v, 3) for k, v in steps.items()}},
                         "client": {k: round(v, 3) for k, v in client.items()}, "ok": outcome.ok})
        _clear(sllm, pylet)
    finally:
        backend.close()
    pick = lambda side, key: [r[side][key] for r in runs if key in r[side]]  # noqa: E731
    return {"runs": runs,
            "median": {"cockpit_first_token_s": statistics.median(pick("cockpit", "first_token_s")),
                       "client_first_token_s": statistics.median(pick("client", "first_token_s")),
                       "cockpit_complete_s": statistics.median(pick("cockpit", "complete_s")),
                       "client_complete_s": statistics.median(pick("client", "total_s"))}}


MEASURES = {
    "pylet_poll_1000": measure_pylet_poll,
    "pylet_render_1000": measure_pylet_render,
    "sllm_cold_start": measure_sllm_cold_start,
}
