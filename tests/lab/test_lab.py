"""The running lab, end to end: load through the real router moves the stand-ins' metrics,
Prometheus scrapes everything, SLURM answers over SSH, and the lab guards its dir and ports."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from servedeck.config import load_config
from servedeck.lab.manager import status, up
from support import lab_ports, router_urls
from servedeck.lab.state import LabError, LabInfo

pytestmark = pytest.mark.integration


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def chat(router: str, max_tokens: int, prompt: str = "hello lab") -> dict:
    body = {"model": "standin-model", "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
    req = urllib.request.Request(f"{router}/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def promql(lab: LabInfo, query: str) -> list[dict]:
    url = f"{lab.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    return get_json(url)["data"]["result"]


def test_the_real_router_serves_the_standin_workers(lab: LabInfo) -> None:
    workers = get_json(f"{lab.router_url}/workers")["workers"]
    assert sorted(w["url"] for w in workers) == sorted(router_urls(lab))  # the orchestrator's two as well
    assert all(w["is_healthy"] for w in workers)
    reply = chat(lab.router_url, 3)
    assert reply["standin"] is True and len(reply["choices"][0]["message"]["content"].split()) == 3


def test_load_through_the_router_moves_worker_and_gpu_metrics(lab: LabInfo) -> None:
    urls = router_urls(lab)  # the router spreads the load over its 4 workers (2 behind tunnels)
    # requests of an earlier test still finishing would count as ours
    assert eventually(lambda: sum(metric(u, "sglang:num_running_reqs") for u in urls) == 0)
    before = sum(metric(u, "sglang:generation_tokens_total") for u in urls)
    threads = [threading.Thread(target=chat, args=(lab.router_url, 80, f"load {i}")) for i in range(6)]
    for t in threads:
        t.start()
    try:
        assert eventually(lambda: sum(metric(u, "sglang:num_running_reqs") for u in urls) >= 1)
        assert eventually(lambda: metric(lab.dcgm_url, "DCGM_FI_DEV_GPU_UTIL") > 0)
        assert eventually(lambda: metric(lab.dcgm_url, "DCGM_FI_DEV_POWER_USAGE") > 70 * 4)
    finally:
        for t in threads:
            t.join(120)
    after = sum(metric(u, "sglang:generation_tokens_total") for u in urls)
    assert after - before == 6 * 80
    assert eventually(lambda: sum(metric(u, "sglang:num_running_reqs") for u in urls) == 0)
    assert eventually(lambda: metric(lab.dcgm_url, "DCGM_FI_DEV_GPU_UTIL") == 0)


@pytest.mark.parametrize("query", ["sglang:num_running_reqs", "DCGM_FI_DEV_GPU_UTIL", "node_load1",
                                   "smg_worker_pool_size"])
def test_prometheus_scrapes_every_lab_service(lab: LabInfo, query: str) -> None:
    assert eventually(lambda: len(promql(lab, query)) > 0, timeout=30), f"no series for {query}"


def test_slurm_answers_over_the_labs_ssh(lab: LabInfo) -> None:
    assert lab.ssh is not None
    ssh = ["ssh", "-p", str(lab.ssh.port), "-i", lab.ssh.key_file, "-o", f"UserKnownHostsFile={lab.ssh.known_hosts}",
           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"{lab.ssh.user}@{lab.ssh.host}"]
    done = subprocess.run([*ssh, "sinfo -h -o '%P %G %t'"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["debug*", "gpu:8"]


def test_docker_engine_answers(lab: LabInfo) -> None:
    done = subprocess.run(["docker", "-H", lab.docker_url, "info", "--format", "{{.ServerVersion}}"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip(), done.stderr


def test_the_written_config_loads_and_points_at_the_lab(lab: LabInfo) -> None:
    loaded = load_config(str(lab.config_path))
    urls = {t.kind: getattr(t.settings, "url", None) for t in loaded.targets}
    assert urls["router"] == lab.router_url and urls["prometheus"] == lab.prometheus_url
    assert urls["docker"] == lab.docker_url and "slurm" in urls


def test_starting_the_same_dir_twice_is_refused(lab: LabInfo) -> None:
    with pytest.raises(LabError, match="already recorded"):
        up(lab.dir, log=lambda _: None)
    assert status(lab.dir).service("router").running


def test_a_taken_port_is_reported_not_fought_over(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(LabError, match=rf"{taken} \(router\)"):
            up(tmp_path / "other", ports=lab_ports().__class__(**{**vars(lab_ports()), "router": taken}), log=lambda _: None)
    assert not (tmp_path / "other" / "lab.json").exists()


def test_status_lists_every_service(lab: LabInfo) -> None:
    text = status(lab.dir).render()
    for name in ("worker-0", "worker-1", "router", "dcgm", "prometheus", "node_exporter", "sshd"):
        assert f"  {name} " in text
    assert "STOPPED" not in text
