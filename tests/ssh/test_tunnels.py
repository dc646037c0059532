"""SSH tunnels against the real sshd: HTTP through -L and -R, a refused far end, and an
sshd restart (on a private sshd of this test) that the tunnel survives by itself."""

from __future__ import annotations

import httpx
import pytest

from servedeck.backends.base import BackendContext
from servedeck.backends.ssh.pool import SSHPool
from servedeck.backends.ssh.backend import TunnelsBackend, TunnelsSettings
from support import PORT_OFFSET
from ssh_support import until

pytestmark = pytest.mark.integration

RANGE = (34100 + PORT_OFFSET // 10, 34120 + PORT_OFFSET // 10)


def backend(pool: SSHPool, *tunnels: dict) -> TunnelsBackend:
    return TunnelsBackend(TunnelsSettings(name="t", tunnels=list(tunnels), port_ranges=[RANGE]),
                          BackendContext(extras={"ssh": pool}))


def test_local_and_reverse_tunnels_carry_http_and_refused_far_end_is_reported(lab, pool):
    worker = lab.worker_urls[0]
    wport = int(worker.rsplit(":", 1)[1])
    closed = RANGE[1] + 5  # nothing listens there
    rport = RANGE[1] + 6
    b = backend(pool,
                {"name": "w0", "ssh": "lab", "remote": f"127.0.0.1:{wport}"},
                {"name": "dead", "ssh": "lab", "remote": f"127.0.0.1:{closed}"},
                {"name": "back", "ssh": "lab", "mode": "reverse", "local_port": wport, "remote": f"127.0.0.1:{rport}"})
    try:
        assert {r.state for r in b.poll(frozenset({"tunnels"}))["tunnels"]} == {"closed"}
        rows = {}
        for name in ("w0", "dead", "back"):
            assert b.perform("tunnel.open", b.row(name)).ok
            assert b.tunnels[name].wait_up(15), b.row(name)
        w0 = b.tunnels["w0"]
        assert RANGE[0] <= w0.spec.local_port <= RANGE[1]
        reply = httpx.get(f"http://127.0.0.1:{w0.spec.local_port}/get_model_info", timeout=10)
        assert reply.status_code == 200 and reply.json()["model_path"] == "standin-model"
        reply = httpx.get(f"http://127.0.0.1:{rport}/get_model_info", timeout=10)  # sshd listens, comes back here
        assert reply.status_code == 200 and reply.json()["model_path"] == "standin-model"
        rows = {r.name: r for r in b.poll(frozenset({"tunnels"}))["tunnels"]}
        assert rows["w0"].bytes_in > 0 and rows["w0"].bytes_out > 0 and rows["back"].bytes_in > 0
        assert rows["dead"].state == "up" and "refused" in rows["dead"].error and str(closed) in rows["dead"].error
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{b.tunnels['dead'].spec.local_port}/", timeout=5)
        assert b.perform("tunnel.close", rows["w0"]).ok
        assert b.row("w0").state == "closed"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{w0.spec.local_port}/health", timeout=5)
        assert b.perform("tunnel.restart", rows["w0"]).ok and b.tunnels["w0"].wait_up(15)
        assert httpx.get(f"http://127.0.0.1:{w0.spec.local_port}/health", timeout=10).status_code == 200
    finally:
        b.close()


def test_tunnel_survives_sshd_restart(lab, own_sshd):
    pool = SSHPool({"own": own_sshd.host()})
    wport = int(lab.worker_urls[0].rsplit(":", 1)[1])
    b = backend(pool, {"name": "w", "ssh": "own", "remote": f"127.0.0.1:{wport}"})
    try:
        tunnel = b.open("w")
        assert tunnel.wait_up(15), b.row("w")
        url = f"http://127.0.0.1:{tunnel.spec.local_port}/health"
        assert httpx.get(url, timeout=10).status_code == 200
        own_sshd.stop()

        def lost():
            """the tunnel noticed the drop"""
            return b.row("w").state in ("reconnecting", "down")
        until(lost)
        own_sshd.start()

        def back():
            """the tunnel came back by itself and carries HTTP again"""
            if b.row("w").state != "up":
                return False
            try:
                return httpx.get(url, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False
        until(back, tries=120)
    finally:
        b.close()
        pool.close()


def test_cli_tunnel_open_list_close(lab, tmp_path):
    import json
    import subprocess
    import sys

    import yaml

    config = yaml.safe_load(lab.config_path.read_text())
    wport = int(lab.worker_urls[0].rsplit(":", 1)[1])
    config["backends"] = {"tunnels": [{"name": "lab-tunnels", "port_ranges": [list(RANGE)], "tunnels": [
        {"name": "cli-w0", "ssh": "lab", "remote": f"127.0.0.1:{wport}"}]}]}
    path = tmp_path / "tunnels.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}  # its own status files
    import os

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "servedeck", "tunnel", *argv, "--config", str(path)],
                              capture_output=True, text=True, timeout=60, env={**os.environ, **env})

    assert cli("open", "nope").returncode == 2
    holder = subprocess.Popen([sys.executable, "-m", "servedeck", "tunnel", "open", "cli-w0", "--config", str(path)],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, **env})
    try:
        def listed_up():
            """`tunnel list --json` shows the held tunnel up"""
            rows = json.loads(cli("list", "--json").stdout)
            return rows[0] if rows and rows[0]["state"] == "up" else None
        row = until(listed_up)
        assert row["name"] == "cli-w0" and row["held_by_pid"] == holder.pid
        assert httpx.get(f"http://{row['local']}/health", timeout=10).status_code == 200
        assert cli("close", "cli-w0", "--readonly").returncode == 3
        closed = cli("close", "cli-w0")
        assert closed.returncode == 0, closed.stderr
        assert holder.wait(timeout=15) == 0
        assert "tunnels closed" in holder.stdout.read()
        assert json.loads(cli("list", "--json").stdout)[0]["state"] == "closed"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_tunnel_recovers_when_the_connection_silently_stops_answering(lab, own_sshd):
    """A network drop without a TCP reset, made real: the sshd process serving our
    connection is frozen (SIGSTOP). The tunnel's probe notices and reconnects."""
    import os
    import signal

    from ssh_support import _children_of

    pool = SSHPool({"own": own_sshd.host()})
    wport = int(lab.worker_urls[0].rsplit(":", 1)[1])
    b = backend(pool, {"name": "w", "ssh": "own", "remote": f"127.0.0.1:{wport}"})
    frozen: list[int] = []
    try:
        tunnel = b.open("w")
        assert tunnel.wait_up(15), b.row("w")
        url = f"http://127.0.0.1:{tunnel.spec.local_port}/health"
        assert httpx.get(url, timeout=10).status_code == 200
        master = next(s.pid for s in own_sshd.info.services if s.name == "sshd")
        stack = _children_of(master)
        while stack:  # every process serving current connections, not the listener
            pid = stack.pop()
            frozen.append(pid)
            stack += _children_of(pid)
        assert frozen
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        until(lambda: b.row("w").state == "reconnecting", tries=80)
        assert "stopped answering" in b.row("w").error

        def back():
            """up again over a new connection, carrying HTTP"""
            try:
                return b.row("w").state == "up" and httpx.get(url, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False
        until(back, tries=120)
    finally:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        b.close()
        pool.close()
