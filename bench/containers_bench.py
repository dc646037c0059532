"""Benchmark of the containers pane at scale (issue 14), added to bench/run.py's MEASURES.

- containers_stats: one host (the shared Docker Engine) with 20, then 200 running busybox
  containers; the cockpit (headless, containers pane, 160x24: about 20 rows on screen) refreshes the pane and we
  count the Engine API requests the Docker backend sent (its request log) and the CPU
  seconds of the whole process per refresh (the poll, the stats round for the rows on
  screen, the redraw). Flat means the 200 figures are close to the 20 ones.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PREFIX = "sdbench-ctr-"
IMAGE = "sdctr-busybox:latest"
STATS = re.compile(r"/containers/[0-9a-f]{64}/stats")


def _image(client) -> str:
    """The tests' scratch busybox image (nothing can be pulled here)."""
    import shutil
    import tempfile

    try:
        client.images.get(IMAGE)
    except Exception:
        ctx = Path(tempfile.mkdtemp(prefix="sdbench-image-"))
        shutil.copy("/bin/busybox", ctx / "busybox")
        (ctx / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n'
                                        'RUN ["/bin/busybox","--install","-s","/bin"]\n')
        client.images.build(path=str(ctx), tag=IMAGE, rm=True)
    return IMAGE


def _grow(client, made: list, count: int) -> None:
    image = _image(client)

    def one(_):
        return client.containers.run(image, ["sleep", "3600"], name=f"{PREFIX}{uuid.uuid4().hex[:8]}",
                                     detach=True, network_mode="none", labels={"servedeck-bench": "1"})

    with ThreadPoolExecutor(4) as pool:
        made.extend(pool.map(one, range(count - len(made))))


async def _refreshes(url: str, repeat: int) -> dict:
    from servedeck.app.main_app import ServedeckApp
    from servedeck.config import load_text

    config = f"ui: {{start_pane: containers}}\nbackends:\n  docker:\n    - {{name: bench, url: '{url}', interval: 3600}}\n"
    app = ServedeckApp(load_text(config, "bench.yaml"))
    backend = app.fleet.runners[0].backend

    async def settle(pilot) -> None:
        """Until the poll, its stats round and any follow-up poll are over."""
        await pilot.pause(0.05)
        while app.poller.in_flight or backend._sampling is not None:
            await pilot.pause(0.02)
        await pilot.pause(0.05)

    async with app.run_test(size=(160, 24)) as pilot:
        table = app._table("containers")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # every running row on screen shows its figures
            await settle(pilot)
            shown = [table._rows[k][1] for k in table.rows_on_screen() if k in table._rows]
            if shown and all(r.cpu_percent is not None for r in shown if r.state == "running"):
                break
        requests, stats, cpu, wall = [], [], [], []
        for _ in range(repeat):
            sent, asked = backend.sent, sum(1 for _, p in list(backend.requests) if STATS.search(p))
            cpu0, t0 = time.process_time(), time.perf_counter()
            app.poller.poll("bench")
            await settle(pilot)
            cpu.append(time.process_time() - cpu0)
            wall.append(time.perf_counter() - t0)
            requests.append(backend.sent - sent)
            stats.append(sum(1 for _, p in list(backend.requests) if STATS.search(p)) - asked)
        return {"rows": table.row_count, "rows_on_screen": len(table.rows_on_screen()),
                "requests_per_refresh": statistics.median(requests),
                "stats_requests_per_refresh": statistics.median(stats),
                "cpu_s_per_refresh": round(statistics.median(cpu), 4),
                "wall_s_per_refresh": round(statistics.median(wall), 4)}


def measure_containers_stats(config: Path, repeat: int) -> dict:
    """Requests and CPU per containers-pane refresh at 20 and 200 running containers."""
    import docker

    client = docker.from_env(timeout=120)
    made: list = []
    out: dict = {}
    try:
        for count in (20, 200):
            _grow(client, made, count)
            out[f"{count}_containers"] = asyncio.run(_refreshes("unix:///var/run/docker.sock", max(repeat, 3)))
    finally:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda c: c.remove(force=True), made))
        client.close()
    small, big = out["20_containers"], out["200_containers"]
    out["requests_200_vs_20"] = round(big["requests_per_refresh"] / max(small["requests_per_refresh"], 1), 2)
    out["cpu_200_vs_20"] = round(big["cpu_s_per_refresh"] / max(small["cpu_s_per_refresh"], 1e-6), 2)
    return out


MEASURES = {"containers_stats": measure_containers_stats}
