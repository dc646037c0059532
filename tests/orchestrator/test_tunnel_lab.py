"""Tunneled local mode through the lab's real sshd: the router reaches the worker through
an -L tunnel the orchestrator opens; after a kill -9 the tunnel is re-opened on the same
local port, so the router entry stays valid and nothing is resubmitted."""

from __future__ import annotations

import re
import urllib.request

import pytest

from orch_support import until

pytestmark = pytest.mark.integration


def test_tunneled_local_mode_and_reopen_after_restart(orch, lab):
    lo = orch.worker_ports[0]
    ssh = lab.ssh
    orch.write_config(replicas=1, connectivity={
        "mode": "tunneled", "tunnel_mode": "local", "orchestrator_host": "127.0.0.1", "advertise_host": "127.0.0.1",
        "worker_port_range": [lo, lo + 19], "local_port_range": [lo + 20, lo + 49],
        "ssh": {"hostname": ssh.host, "port": ssh.port, "user": ssh.user, "key_file": ssh.key_file,
                "known_hosts": ssh.known_hosts},
    })
    proc = orch.start()
    (url,) = until(orch.ready_urls, 90, what="1 ready worker through a tunnel")
    worker = orch.status()["workers"][0]
    local_port = int(url.rsplit(":", 1)[1])
    assert lo + 20 <= local_port <= lo + 49 and worker["tunnel"] and worker["local_port"] == local_port
    assert orch.router_urls() == [url]
    from servedeck.orchestrator.control import request

    port = request(orch.socket, {"cmd": "status"})["status"]["metrics_port"]
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert re.search(r'sgorch_tunnels_up\{deployment="dep"\} 1\.0', text)

    orch.kill9(proc)  # the tunnel dies with the process
    orch.start()
    until(lambda: orch.ready_urls() == [url] and _answers(f"{url}/health"), 60,
          what="tunnel re-opened on the same local port")
    assert orch.router_urls() == [url]
    assert orch.status()["workers"][0]["job_id"] == worker["job_id"]
    assert len(orch.jobs(active_only=False)) == 1


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_tunneled_reverse_mode_job_opens_the_tunnel(orch, lab):
    """The job itself runs `ssh -R` back to the orchestrator host (the lab's sshd)."""
    lo = orch.worker_ports[0]
    ssh = lab.ssh
    orch.write_config(replicas=1, connectivity={
        "mode": "tunneled", "tunnel_mode": "reverse", "orchestrator_host": ssh.host, "advertise_host": "127.0.0.1",
        "worker_port_range": [lo, lo + 19], "local_port_range": [lo + 20, lo + 49],
        "ssh": {"port": ssh.port, "user": ssh.user, "key_file": ssh.key_file, "known_hosts": ssh.known_hosts},
    })
    orch.start()
    (url,) = until(orch.ready_urls, 90, what="1 ready worker through a reverse tunnel")
    worker = orch.status()["workers"][0]
    assert url == f"http://127.0.0.1:{worker['local_port']}" and lo + 20 <= worker["local_port"] <= lo + 49
    assert f";rport={worker['local_port']}" in orch.jobs()[0]["comment"]
    assert _answers(f"{url}/health") and orch.router_urls() == [url]
