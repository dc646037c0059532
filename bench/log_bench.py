"""Log pane benchmarks against a real container on the lab's Docker Engine.

- log_ingest: lines per second the logs pane ingests from a container printing as fast
  as it can (`yes`), and what the raw source alone reads, for comparison.
- log_memory: the app's RSS (VmRSS) before opening a source and after one million lines
  went through the pane (its buffer keeps the newest 50,000).
- log_key_delay: time from a key event being posted to its action running, while the
  pane ingests about 10,000 lines per second.

Each figure is taken in a fresh headless app (`run_test`) in a child process:
    python bench/log_bench.py child MODE DOCKER_URL CONTAINER
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

IMAGE = "sdbench-busybox:latest"
LINE = "2024-05-01 12:00:00 INFO serving request id=42 path=/v1/chat/completions status=200 tokens=128"


def _docker_url(config: Path) -> str:
    import yaml

    data = yaml.safe_load(config.read_text())
    return data["backends"]["docker"][0]["url"]


def _container(url: str, script: str, log_mb: int = 50):
    import docker

    client = docker.DockerClient(base_url=url, timeout=60)
    ctx = Path(tempfile.mkdtemp(prefix="sdbench-"))
    shutil.copy("/bin/busybox", ctx / "busybox")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n')
    client.images.build(path=str(ctx), tag=IMAGE, rm=True)
    shutil.rmtree(ctx, ignore_errors=True)
    c = client.containers.run(IMAGE, ["sh", "-c", script], name=f"sdbench-{uuid.uuid4().hex[:8]}", detach=True,
                              network_mode="host",  # `yes` fills a log fast: keep it small
                              log_config={"type": "json-file", "config": {"max-size": f"{log_mb}m", "max-file": "2"}})
    return client, c


def _child(mode: str, url: str, name: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "child", mode, url, name], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"log bench child {mode} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _with_container(config: Path, script: str, mode: str, repeat: int, log_mb: int = 50) -> list[dict]:
    url = _docker_url(config)
    results = []
    for _ in range(repeat):
        client, c = _container(url, script, log_mb)
        try:
            results.append(_child(mode, url, c.name))
        finally:
            c.remove(force=True)
            client.close()
    return results


def measure_log_ingest(config: Path, repeat: int) -> dict:
    runs = _with_container(config, f"yes '{LINE}'", "ingest", min(repeat, 3))
    pane = [r["pane_lines_per_s"] for r in runs]
    raw = [r["source_lines_per_s"] for r in runs]
    return {"pane_lines_per_s_median": round(statistics.median(pane)), "source_only_lines_per_s_median":
            round(statistics.median(raw)), "pane_vs_source": round(statistics.median(pane) / statistics.median(raw), 3),
            "runs": runs}


def measure_log_memory(config: Path, repeat: int) -> dict:
    script = f"yes '{LINE}' | head -n 1000000; sleep 600"
    run = _with_container(config, script, "memory", 1, log_mb=200)[0]  # the log holds all 1M lines
    return run


def measure_log_key_delay(config: Path, repeat: int) -> dict:
    script = f"while true; do yes '{LINE}' | head -n 1000; usleep 100000; done"
    runs = _with_container(config, script, "keys", min(repeat, 3))
    delays = sorted(d for r in runs for d in r["delays_ms"])
    return {
        "median_ms": round(statistics.median(delays), 1),
        "p95_ms": round(delays[int(len(delays) * 0.95) - 1], 1),
        "max_ms": round(max(delays), 1),
        "ingest_lines_per_s": [r["lines_per_s"] for r in runs],
        "samples": len(delays),
    }


MEASURES = {
    "log_ingest": measure_log_ingest,
    "log_memory": measure_log_memory,
    "log_key_delay": measure_log_key_delay,
}

# -- the child: a headless cockpit on the logs pane -------------------------------------


def vmrss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _source_rate(url: str, name: str, seconds: float = 3.0) -> float:
    from servedeck.backends.docker.logsource import DockerLogSource

    stop, count, began = threading.Event(), 0, time.perf_counter()
    for event in DockerLogSource(url, name).events(tail=0, follow=True, stop=stop):
        count += 1
        if time.perf_counter() - began > seconds:
            stop.set()
    return count / (time.perf_counter() - began)


async def _run_child(mode: str, url: str, name: str) -> dict:
    from textual import events

    from servedeck.app.main_app import ServedeckApp
    from servedeck.backends.fleet import Fleet
    from servedeck.backends.docker.logsource import DockerLogSource
    from servedeck.config import load_text

    app = ServedeckApp(load_text("ui: {start_pane: logs}\n", "bench.yaml"), fleet=Fleet([]))
    async with app.run_test(size=(160, 40)):
        pane = app._table("logs")
        await asyncio.sleep(0.5)
        rss_before = vmrss_kib()
        tail = 0 if mode != "memory" else -1
        source = DockerLogSource(url, name)
        original = source.events
        source.events = lambda *, tail_=tail, **kw: original(tail=tail_, **{k: v for k, v in kw.items() if k != "tail"})
        pane.open_source(source, name)
        if mode == "ingest":
            await asyncio.sleep(1.0)
            start, began = pane.ingested, time.perf_counter()
            await asyncio.sleep(5.0)
            rate = (pane.ingested - start) / (time.perf_counter() - began)
            pane.close_source()
            return {"pane_lines_per_s": round(rate), "source_lines_per_s": round(_source_rate(url, name)),
                    "dropped_from_buffer": pane.view.dropped}
        if mode == "memory":
            began = time.perf_counter()
            while pane.ingested < 1_000_000 and time.perf_counter() - began < 300:
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            return {"lines": pane.ingested, "seconds": round(time.perf_counter() - began, 1),
                    "buffered": len(pane.view.lines), "dropped": pane.view.dropped,
                    "rss_before_mib": round(rss_before / 1024, 1), "rss_after_mib": round(vmrss_kib() / 1024, 1)}
        hits: list[float] = []
        toggle = pane.action_toggle_timestamps

        def timed() -> None:
            hits.append(time.perf_counter())
            toggle()

        pane.action_toggle_timestamps = timed
        await asyncio.sleep(1.0)
        start, began = pane.ingested, time.perf_counter()
        delays = []
        for _ in range(30):
            seen, posted = len(hits), time.perf_counter()
            app.post_message(events.Key("t", "t"))
            while len(hits) == seen:
                await asyncio.sleep(0.0005)
            delays.append(round((hits[-1] - posted) * 1000, 2))
            await asyncio.sleep(0.1)
        rate = (pane.ingested - start) / (time.perf_counter() - began)
        pane.close_source()
        return {"delays_ms": delays, "lines_per_s": round(rate)}


def _child_main(mode: str, url: str, name: str) -> dict:
    """Keep the figures even if the app trips while shutting down under load."""
    result: dict = {}

    async def run() -> None:
        result.update(await _run_child(mode, url, name))

    try:
        asyncio.run(run())
    except Exception as exc:
        if not result:
            raise
        print(f"app teardown failed after measuring: {type(exc).__name__}: {exc}", file=sys.stderr)
    return result


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        print(json.dumps(_child_main(*sys.argv[2:5])))
    else:
        print(__doc__)
