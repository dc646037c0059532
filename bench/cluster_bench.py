"""Cluster benchmarks (issue 5): squeue parsing and jobs-table updates at 10,000 and 50,000
jobs, and throughput through an SSH `-L` tunnel against a direct connection, same run.

    .venv/bin/python bench/run.py --only squeue_jobs tunnel_throughput
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import threading
import time
from pathlib import Path

SIZES = (10_000, 50_000)
TUNNEL_MB = 32


def squeue_json(n: int, shape: str, now: int) -> str:
    """`squeue --json` with n jobs in the 22.05 or the 23.11 shape."""
    jobs = []
    for i in range(n):
        running = i % 3 != 0
        if shape == "22.05":
            state, start, limit = ("RUNNING" if running else "PENDING"), now - 60 * (i % 500), 60 + i % 600
        else:
            state = ["RUNNING"] if running else ["PENDING"]
            start = {"set": True, "infinite": False, "number": now - 60 * (i % 500)}
            limit = {"set": True, "infinite": False, "number": 60 + i % 600}
        jobs.append({
            "job_id": 100000 + i, "name": f"sglang-worker-{i}", "user_name": f"user{i % 40}",
            "job_state": state, "partition": ("gpu", "debug")[i % 2], "nodes": f"gpu{i % 300:03d}" if running else "",
            "start_time": start, "end_time": 0, "time_limit": limit, "state_reason": "None" if running else "Priority",
            "tres_req_str": f"cpu=8,mem=64G,node=1,gres/gpu={1 + i % 8}", "comment": f"port={30000 + i % 1000}",
        })
    return json.dumps({"meta": {}, "errors": [], "jobs": jobs})


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 4)


async def _table_times(rows: tuple, repeat: int) -> dict:
    """Headless jobs pane: first fill, then an update where 1% of the rows changed."""
    from dataclasses import replace

    from textual.app import App, ComposeResult

    from servedeck.backends.slurm.backend import JOBS, SlurmBackend
    from servedeck.widgets.panes.jobs import PANE_BODIES

    factory = PANE_BODIES["jobs"]  # the jobs pane's own body, as the cockpit builds it

    class Bench(App):
        def compose(self) -> ComposeResult:
            yield factory(JOBS, SlurmBackend.actions, id="jobs")

    first, painted, update = [], [], []
    changed = tuple(replace(r, state="COMPLETING") if i % 100 == 0 else r for i, r in enumerate(rows))
    for _ in range(repeat):
        app = Bench()
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.query_one("#jobs")
            started = time.perf_counter()
            table.show([("bench", r) for r in rows])
            first.append(time.perf_counter() - started)
            await pilot.pause()  # the table's deferred work and the first paint of its lines
            painted.append(time.perf_counter() - started)
            started = time.perf_counter()
            table.show([("bench", r) for r in changed])
            update.append(time.perf_counter() - started)
    return {"first_fill_s": _median(first), "first_fill_painted_s": _median(painted),
            "update_1pct_changed_s": _median(update)}


def measure_squeue_jobs(config: Path, repeat: int) -> dict:
    from servedeck.backends.slurm.parse import parse_json

    now = int(time.time())
    out: dict = {}
    for n in SIZES:
        entry: dict = {}
        for shape in ("22.05", "23.11"):
            text = squeue_json(n, shape, now)
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                rows = parse_json(text, "bench", now=now)
                samples.append(time.perf_counter() - started)
            assert len(rows) == n
            entry[f"parse_{shape}_s"] = _median(samples)
            entry["json_mb"] = round(len(text) / 1e6, 1)
        entry.update(asyncio.run(_table_times(rows, max(1, min(repeat, 2)))))
        out[f"{n}_jobs"] = entry
    return out


# -- tunnel throughput --------------------------------------------------------------------

def _sink() -> tuple[socket.socket, int]:
    """A TCP server that reads everything a client sends, then answers b"ok"."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                want = int.from_bytes(conn.recv(8), "big")
                got = 0
                while got < want:
                    data = conn.recv(1 << 20)
                    if not data:
                        break
                    got += len(data)
                conn.sendall(b"ok")

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def _send(port: int, megabytes: int) -> float:
    """MB/s for sending `megabytes` to the sink at `port` and hearing back."""
    payload = b"x" * (1 << 20)
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall((megabytes << 20).to_bytes(8, "big"))
        for _ in range(megabytes):
            sock.sendall(payload)
        assert sock.recv(2) == b"ok"
    return megabytes / (time.perf_counter() - started)


def measure_tunnel_throughput(config: Path, repeat: int) -> dict:
    from servedeck.backends.base import BackendContext
    from servedeck.backends.ssh.pool import SSHPool
    from servedeck.backends.ssh.backend import TunnelsBackend, TunnelsSettings
    from servedeck.config import load_config

    loaded = load_config(str(config))
    if not loaded.config.ssh:
        return {"skipped": "the lab config has no ssh host"}
    host = next(iter(loaded.config.ssh))
    pool = SSHPool(loaded.config.ssh)
    server, port = _sink()
    backend = TunnelsBackend(
        TunnelsSettings(name="bench", port_ranges=[(38000, 38999)],
                        tunnels=[{"name": "sink", "ssh": host, "remote": f"127.0.0.1:{port}"}]),
        BackendContext(extras={"ssh": pool}),
    )
    try:
        tunnel = backend.open("sink")
        if not tunnel.wait_up(20):
            return {"error": tunnel.row().error or "tunnel did not come up"}
        direct, tunneled = [], []
        for _ in range(max(1, min(repeat, 3))):  # interleaved: both see the same machine load
            direct.append(_send(port, TUNNEL_MB))
            tunneled.append(_send(tunnel.spec.local_port, TUNNEL_MB))
        d, t = statistics.median(direct), statistics.median(tunneled)
        cipher = pool.transport(host).remote_cipher  # what the SSH connection negotiated
        return {"megabytes_per_transfer": TUNNEL_MB, "cipher": cipher, "direct_mb_s": round(d, 1), "tunnel_mb_s": round(t, 1),
                "tunnel_vs_direct": round(t / d, 4), "direct_samples": [round(x, 1) for x in direct],
                "tunnel_samples": [round(x, 1) for x in tunneled]}
    finally:
        backend.close()
        pool.close()
        server.close()


MEASURES = {
    "squeue_jobs": measure_squeue_jobs,
    "tunnel_throughput": measure_tunnel_throughput,
}
