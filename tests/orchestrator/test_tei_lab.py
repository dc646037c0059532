"""A TEI deployment on the lab's real SLURM (issue 15, part 5): the job launches
`text-embeddings-router` from binary_path (here the lab's TEI stand-in behind that name)
with --model-id, --revision, --prometheus-port, the args and the env; health makes it
ready; no router is involved; its Prometheus port serves TEI's metrics."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from orch_support import PY, http_json, until
from servedeck.orchestrator.control import ControlError

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tei_deployment_runs_on_slurm_without_a_router(orch, tmp_path):
    binary = tmp_path / "bin" / "text-embeddings-router"
    binary.parent.mkdir()
    binary.write_text(f'#!/bin/sh\nexec {PY} -m servedeck.lab.standin_tei "$@"\n')
    binary.chmod(0o755)
    prom_port = _free_port()
    hub = str(tmp_path / "hub")
    orch.write_config(replicas=1, router=None, sglang=None, backend={
        "type": "tei", "binary_path": str(binary), "model_id": "BAAI/bge-base-en-v1.5", "revision": "refs/pr/5",
        "args": ["--hostname", "127.0.0.1", "--port", "{PORT}", "--json-output"],
        "env": {"HUGGINGFACE_HUB_CACHE": hub}, "prometheus_port": prom_port})
    assert orch.cli("validate").returncode == 0
    orch.start()

    def ready():
        try:
            workers = [w for w in orch.status()["workers"] if w["phase"] == "ready" and w["url"]]
        except ControlError:  # not listening yet
            return None
        return workers[0] if workers else None

    worker = until(ready, 120, what="a ready TEI worker")
    assert worker["registered"] is False  # nothing to register with
    info = http_json(worker["url"] + "/info")
    assert info["standin"] is True and info["model_id"] == "BAAI/bge-base-en-v1.5"
    assert info["model_sha"] == "refs/pr/5" and info["hub_cache"] == hub
    request = urllib.request.Request(worker["url"] + "/embed", data=json.dumps({"inputs": ["a", "b"]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - 127.0.0.1 only
        vectors = json.load(resp)
    assert len(vectors) == 2 and len(vectors[0]) == 16
    with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/metrics", timeout=5) as resp:  # noqa: S310
        text = resp.read().decode()
    assert "te_embed_count 2" in text and "te_request_success 1" in text
    assert orch.status()["prometheus_port"] == prom_port
    assert not any(l.get("event") == "router_error" for l in orch.logs())
