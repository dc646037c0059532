"""The systems that joined the overview later, each rule triggered by a real fault:
a Compose service unhealthy and one stopped, a Pylet instance that fails, a Pylet worker
killed, the Pylet head hung (the sllm head loses it), the sllm head killed, a Dynamo build
whose step fails, an autotuner experiment whose server exits. Each fault is this test's
own (its project, stack, checkout, tuning), so the shared lab stays as other tests expect.
"""

from __future__ import annotations

import json
import os
import signal
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from servedeck.backends.base import BackendContext
from servedeck.backends.compose.backend import ComposeBackend, ComposeSettings
from servedeck.backends.dynamo.backend import DynamoBackend, DynamoSettings
from servedeck.backends.pylet.backend import PyletBackend, PyletSettings
from servedeck.backends.runner import BackendRunner
from servedeck.backends.sllm.backend import SllmBackend, SllmSettings
from servedeck.backends.tuner.backend import TunerBackend, TunerBackendSettings
from servedeck.lab.manager import down, up
from servedeck.lab.services.dynamo import make_checkout
from servedeck.overview.attention import Attention
from servedeck.overview.blocks import blocks
from servedeck.overview.events import EventFeed
from support import PORT_OFFSET, lab_ports

pytestmark = pytest.mark.integration

PREFIX = f"sdov{PORT_OFFSET}"
# Not the session lab's, nor tests/pylet's stack: instances take the worker's port +1..+20.
STACK_PORTS = {"pylet_head": 8030, "pylet_worker": 15689, "sllm_head": 8373}


def poll(runners) -> dict:
    return {r.name: r.poll_once(frozenset(p.key for p in r.backend.panes)) or r.snapshot for r in runners}


def until_attention(runners, predicate, *, feed: EventFeed | None = None, timeout: float = 60.0,
                    attention: Attention | None = None):
    """Refreshes as the cockpit does until the attention list satisfies `predicate`."""
    attention = attention or Attention()
    deadline = time.monotonic() + timeout
    while True:
        snaps = poll(runners)
        if feed is not None:
            for snap in snaps.values():
                feed.observe(snap)
        items = attention.items(snaps, time.time())
        if predicate(items):
            return items, snaps
        if time.monotonic() > deadline:
            raise AssertionError(f"never in the attention list: {[(i.rule, i.subject) for i in items]}")
        time.sleep(1.0)


def one(items, rule: str, contains: str):
    found = [i for i in items if i.rule == rule and contains in i.subject]
    assert found, [(i.rule, i.subject) for i in items]
    return found[0]


def block(snaps, key: str):
    return next(b for b in blocks(snaps) if b.key == key)


# -- Compose --------------------------------------------------------------------------------


def _compose(project: str, file: Path, docker_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker-compose", "-p", project, "-f", str(file), *args], cwd=file.parent,
                          env={"PATH": "/usr/bin:/bin:/usr/local/bin", "DOCKER_HOST": docker_url},
                          capture_output=True, text=True, timeout=180)


def test_compose_service_unhealthy_and_stopped_need_attention(lab, tmp_path):
    import docker

    image = f"{PREFIX}-busybox:latest"
    client = docker.DockerClient(base_url=lab.docker_url, timeout=120)
    try:
        shutil.copy("/bin/busybox", tmp_path / "busybox")
        (tmp_path / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n')
        client.images.build(path=str(tmp_path), tag=image, rm=True, network_mode="host")
    finally:
        client.close()
    project = f"{PREFIX}c{uuid.uuid4().hex[:6]}"
    fast = {"interval": "1s", "timeout": "2s", "retries": 2}
    loop = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.5; done & wait"]
    file = tmp_path / "docker-compose.yml"
    file.write_text(yaml.safe_dump({"services": {
        "web": {"image": image, "network_mode": "host", "command": loop, "stop_grace_period": "1s"},
        "bad": {"image": image, "network_mode": "host", "command": loop, "stop_grace_period": "1s",
                "healthcheck": {"test": ["CMD", "false"], **fast}},
    }}))
    backend = ComposeBackend(ComposeSettings(name="ov-compose", url=lab.docker_url))
    runner = BackendRunner(backend)
    feed = EventFeed(None)
    try:
        done = _compose(project, file, lab.docker_url, "up", "-d")
        assert done.returncode == 0, done.stderr
        items, snaps = until_attention([runner], lambda items: any(
            i.rule == "compose_unhealthy" and project in i.subject for i in items), feed=feed)
        bad = one(items, "compose_unhealthy", f"{project}/bad")
        assert bad.severity == "crit" and bad.jump.pane == "compose"
        assert not any(i.rule == "compose_exited" and project in i.subject for i in items)
        assert any(project in r.cells[0] and r.level == "crit" for r in block(snaps, "compose").rows)
        assert _compose(project, file, lab.docker_url, "stop", "web").returncode == 0  # exits 0 on TERM
        items, _ = until_attention([runner], lambda items: any(
            i.rule == "compose_exited" and f"{project}/web" in i.subject for i in items), feed=feed)
        web = one(items, "compose_exited", f"{project}/web")
        assert web.severity == "warn" and "exited with code 0" in web.why
        changes = [(e.kind, e.subject, e.message) for e in feed.newest()]
        assert any(k == "compose.state" and s == f"compose {project}/web" and "exited" in m for k, s, m in changes), changes
    finally:
        _compose(project, file, lab.docker_url, "down", "-t", "1")
        backend.close()


# -- Pylet and the sllm head -----------------------------------------------------------------


@pytest.fixture
def own_stack(tmp_path):
    """A ServerlessLLM stack of this test's own (real Pylet head and worker, sllm head stand-in)."""
    lines: list[str] = []
    info = up(tmp_path / "stack", ports=lab_ports(**STACK_PORTS), services="sllm", log=lines.append)
    try:
        yield info
    finally:
        down(info.dir, log=lines.append)


def test_pylet_and_sllm_faults_need_attention(own_stack):
    head, sllm = own_stack.service("pylet-head"), own_stack.service("sllm-head")
    worker = own_stack.service("pylet-worker")
    assert head and head.url and sllm and sllm.url and worker and worker.pid
    pylet = BackendRunner(PyletBackend(PyletSettings(name="ov-pylet", url=head.url, timeout=2)))
    heads = BackendRunner(SllmBackend(SllmSettings(name="ov-sllm", url=sllm.url, pylet_url=head.url, timeout=2),
                                      BackendContext()))
    runners = [pylet, heads]
    feed = EventFeed(None)
    attention = Attention()
    items, snaps = until_attention(runners, lambda items: not items, feed=feed, attention=attention)
    assert block(snaps, "pylet_workers").summary.startswith("1/1 workers online")
    assert block(snaps, "sllm_heads").rows[0].cells[2] == "yes"

    # an instance whose command fails: FAILED with its exit code
    reply = httpx.post(f"{head.url}/instances", json={
        "command": "echo about to fail; exit 3", "name": f"{PREFIX}-doomed", "labels": {"type": "test"},
        "resource_requirements": {"cpu_cores": 1, "gpu_units": 0, "memory_mb": 64}}, timeout=5)
    reply.raise_for_status()
    items, _ = until_attention(runners, lambda items: any(i.rule == "pylet_instance_failed" for i in items),
                               feed=feed, attention=attention)
    failed = one(items, "pylet_instance_failed", f"{PREFIX}-doomed")
    assert failed.severity == "crit" and "exit code 3" in failed.why and failed.jump.pane == "pylet_instances"
    assert any(e.kind in ("pylet.instance.state", "pylet.instance.new") and "FAILED" in e.message
               for e in feed.newest())

    # the Pylet head hangs: the sllm head reports pylet_connected false, the Pylet backend is down
    os.kill(head.pid, signal.SIGSTOP)
    try:
        items, _ = until_attention(runners, lambda items: any(i.rule == "sllm_pylet_disconnected" for i in items),
                                   feed=feed, attention=attention)
        assert one(items, "sllm_pylet_disconnected", "ov-sllm").severity == "crit"
        assert one(items, "backend_down", "pylet ov-pylet").severity == "crit"
    finally:
        os.kill(head.pid, signal.SIGCONT)
    assert any(e.kind == "sllm.head.state" and e.message.endswith("pylet not connected") for e in feed.newest())
    until_attention(runners, lambda items: not any(i.rule == "sllm_pylet_disconnected" for i in items),
                    feed=feed, attention=attention)

    # the Pylet worker killed (no unregister): SUSPECT, then OFFLINE
    os.kill(worker.pid, signal.SIGKILL)
    items, _ = until_attention(runners, lambda items: any(i.rule == "pylet_worker_offline" for i in items),
                               feed=feed, attention=attention, timeout=90)
    offline = one(items, "pylet_worker_offline", "Pylet worker")
    assert offline.severity == "crit" and offline.jump.pane == "pylet_workers"
    assert any(e.kind == "pylet.worker.state" and e.message.endswith("OFFLINE") and e.severity == "crit"
               for e in feed.newest())

    # the sllm head killed: its backend is down (what "the head is down" is, on screen)
    os.kill(sllm.pid, signal.SIGKILL)
    items, snaps = until_attention(runners, lambda items: any(i.rule == "backend_down" and "sllm ov-sllm" in i.subject
                                                              for i in items), feed=feed, attention=attention)
    assert any(r.cells[1] == "down" and r.level == "crit" for r in block(snaps, "sllm_heads").rows)
    assert any(e.kind == "backend.down" and e.backend == "ov-sllm" for e in feed.newest())


# -- Dynamo builds ---------------------------------------------------------------------------


def test_a_failed_dynamo_build_needs_attention(lab, tmp_path):
    checkout = make_checkout(tmp_path / "dynamo")
    dockerfile = checkout / "container" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n',
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN ["/bin/sh", "-c", "echo last words; exit 7"]\n', 1))
    subprocess.run(["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t.invalid",
                    "commit", "-qam", "break the base stage"], check=True)
    state = tmp_path / "state"
    cfg = tmp_path / "servedeck.yaml"
    cfg.write_text(yaml.safe_dump({"backends": {"dynamo": [
        {"name": "ov-dynamo", "url": lab.docker_url, "state_dir": str(state), "build_network": "none",
         "repo": str(checkout)}]}}))
    runner = BackendRunner(DynamoBackend(DynamoSettings(name="ov-dynamo", url=lab.docker_url, state_dir=str(state),
                                                        build_network="none", repo=str(checkout))))
    feed = EventFeed(None)
    until_attention([runner], lambda items: True, feed=feed)  # the baseline: no builds yet
    done = subprocess.run([sys.executable, "-m", "servedeck", "dynamo", "build", "--config", str(cfg),
                           "--repo", str(checkout), "--tag", f"{PREFIX}-dyn:broken"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "SERVEDECK_STATE_DIR": str(state)})
    assert done.returncode != 0, done.stdout
    items, snaps = until_attention([runner], lambda items: any(i.rule == "build_failed" for i in items), feed=feed)
    failed = one(items, "build_failed", "build ")
    assert failed.severity == "crit" and ("exit 7" in failed.why or "code: 7" in failed.why), failed
    assert failed.jump.pane == "builds"
    assert block(snaps, "builds").rows[0].cells[1] == "failed" and block(snaps, "builds").rows[0].level == "crit"
    assert any(e.kind in ("build.new", "build.state") and "failed" in e.message and e.severity == "crit"
               for e in feed.newest()), [(e.kind, e.message) for e in feed.newest()]


# -- the autotuner ---------------------------------------------------------------------------


def test_a_failed_tuner_experiment_needs_attention(lab, tmp_path):
    import docker

    state, results = tmp_path / "state", tmp_path / "results"
    prefix = f"{PREFIX}tun"
    ports = (20500 + 10 * PORT_OFFSET, 20500 + 10 * PORT_OFFSET + 9)
    cfg = tmp_path / "servedeck.yaml"
    cfg.write_text(json.dumps({"tuner": {
        "docker_url": lab.docker_url, "image": "servedeck-standin-sglang:lab", "build_standin_image": True,
        "port_range": list(ports), "health_poll_s": 0.3, "gpus": {"request": "env", "standin_count": 4},
        "state_dir": str(state), "results_dir": str(results), "container_prefix": prefix}}))
    task = tmp_path / "ovtask.json"
    task.write_text(json.dumps({  # above 0.9 the stand-in server exits at start (like SGLang's OOM)
        "task_name": "ovtask", "description": "test", "deployment_mode": "docker",
        "model": {"id_or_path": "standin-model", "namespace": "autotuner"}, "base_runtime": "sglang",
        "parameters": {"mem-fraction-static": [0.95]},
        "optimization": {"strategy": "grid_search", "objective": "minimize_latency", "timeout_per_iteration": 60},
        "benchmark": {"task": "text-to-text", "model_name": "standin-model", "model_tokenizer": "standin",
                      "traffic_scenarios": ["D(10,10)"], "num_concurrency": [1], "max_time_per_iteration": 1,
                      "max_requests_per_iteration": 4}}))
    runner = BackendRunner(TunerBackend(TunerBackendSettings(name="ov-tuner", state_dir=str(state), config=str(cfg))))
    feed = EventFeed(None)
    try:
        done = subprocess.run([sys.executable, "-m", "servedeck", "tune", "run", str(task), "--config", str(cfg),
                               "--quiet"], capture_output=True, text=True, timeout=600)
        assert (results / "ovtask_results.json").exists(), done.stderr[-2000:]
        items, snaps = until_attention([runner], lambda items: any(i.rule == "experiment_failed" for i in items),
                                       feed=feed)
        failed = one(items, "experiment_failed", "experiment exp1")
        assert failed.severity == "warn" and "exited" in failed.why and failed.jump.pane == "experiments"
        assert any(r.cells[0] == "exp1" and r.level == "warn" for r in block(snaps, "experiments").rows)
    finally:
        client = docker.DockerClient(base_url=lab.docker_url, timeout=60)
        for c in client.containers.list(all=True, filters={"name": prefix}):
            c.remove(force=True)
        client.close()
