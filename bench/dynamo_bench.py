"""Dynamo build benchmarks on the lab's Docker Engine, with the stand-in checkout.

- dynamo_build_wall: wall time of build.sh's default chain (base through BuildKit, vllm
  through the Engine API, `--no-cache`) run by `servedeck dynamo build` vs the same two
  `docker build` lines run by the plain docker CLI, interleaved in the same run.
- dynamo_pane_5000_lines: a build whose step prints 5,000 lines, with a headless cockpit
  showing the Builds pane: the build's wall time through servedeck's Builder vs the plain
  CLI, and what each Builds-pane update costs (backend poll, table update) meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PREFIX = "sdbench-dynamo"


def _docker_url(config: Path) -> str:
    import yaml

    return yaml.safe_load(config.read_text())["backends"]["docker"][0]["url"]


def _settings(url: str, state: Path):
    from servedeck.backends.dynamo.backend import DynamoSettings

    return DynamoSettings(name="bench", url=url, state_dir=str(state), build_network="none")


def _plain_cli(url: str, build) -> float:
    """One plan build with the plain docker CLI (BuildKit where servedeck used it)."""
    from servedeck.backends.dynamo.builder import buildkit_reasons, default_cli

    parsed = build.parsed()
    buildkit = bool(buildkit_reasons(parsed, Path(parsed.dockerfile).read_text()))
    env = dict(os.environ, DOCKER_BUILDKIT="1" if buildkit else "0")
    argv = [default_cli(), "-H", url, "build", "--network", "none", *(["--progress=plain"] if buildkit else []),
            *build.words]
    began = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def _cleanup(url: str, tags) -> None:
    import docker

    api = docker.APIClient(base_url=url, timeout=120)
    for tag in tags:
        try:
            api.remove_image(tag)
        except Exception:
            pass
    api.close()


def measure_build_wall(config: Path, repeat: int) -> dict:
    from servedeck.backends.dynamo.buildsh import plan_build
    from servedeck.lab.services.dynamo import make_checkout

    url = _docker_url(config)
    with tempfile.TemporaryDirectory(prefix="sdbench-dynamo-") as tmp:
        repo = make_checkout(Path(tmp) / "dynamo")
        state = Path(tmp) / "state"
        cfg = Path(tmp) / "c.yaml"
        cfg.write_text(f"backends:\n  dynamo:\n    - {{name: bench, url: '{url}', state_dir: '{state}', build_network: none}}\n")
        argv = ["--no-cache", "--tag", f"{PREFIX}:wall"]
        plan = plan_build(argv, repo, env={})
        ours, plain = [], []
        try:
            for _ in range(max(1, min(repeat, 3))):
                began = time.perf_counter()
                subprocess.run([sys.executable, "-m", "servedeck", "dynamo", "build", "--config", str(cfg), "--repo",
                                str(repo), *argv], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                ours.append(time.perf_counter() - began)
                plain.append(sum(_plain_cli(url, b) for b in plan.builds))
        finally:
            _cleanup(url, [t for b in plan.builds for t in b.tags if not t.startswith("dynamo:latest")])
    o, p = statistics.median(ours), statistics.median(plain)
    return {"servedeck_median_s": round(o, 2), "plain_cli_median_s": round(p, 2),
            "overhead_percent": round((o - p) / p * 100, 1), "servedeck_s": [round(x, 2) for x in ours],
            "plain_cli_s": [round(x, 2) for x in plain]}


def measure_pane_5000_lines(config: Path, repeat: int) -> dict:
    from servedeck.app.main_app import ServedeckApp
    from servedeck.backends.dynamo.backend import DynamoBackend
    from servedeck.backends.dynamo.buildsh import plan_build
    from servedeck.backends.dynamo.session import BuildSession
    from servedeck.backends.fleet import Fleet
    from servedeck.backends.runner import BackendRunner
    from servedeck.config import load_text
    from servedeck.lab.services.dynamo import make_checkout

    url = _docker_url(config)
    with tempfile.TemporaryDirectory(prefix="sdbench-dynamo-") as tmp:
        repo = make_checkout(Path(tmp) / "dynamo")
        df = repo / "container" / "Dockerfile"
        df.write_text(df.read_text().replace("WORKDIR /workspace\n", "RUN seq 1 5000\nWORKDIR /workspace\n"))
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "loud"],
                       check=True)
        # framework none: the base Dockerfile alone; without RUN --mount it takes the Engine API
        df.write_text(df.read_text().replace("RUN --mount=type=cache,target=/root/.cache/standin ", "RUN "))
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "api"],
                       check=True)
        argv = ["--framework", "none", "--no-cache", "--tag", f"{PREFIX}:loud"]
        settings = _settings(url, Path(tmp) / "state")
        plan = plan_build(argv, repo, env={})
        polls, shows, walls, plain = [], [], [], []
        lines_seen = []

        async def run_once() -> None:
            backend = DynamoBackend(settings)
            original = backend.poll

            def timed(wanted):
                began = time.perf_counter()
                try:
                    return original(wanted)
                finally:
                    polls.append(time.perf_counter() - began)

            backend.poll = timed
            app = ServedeckApp(load_text("ui: {start_pane: builds}\n", "b.yaml"), fleet=Fleet([BackendRunner(backend)]))
            async with app.run_test(size=(200, 40)) as pilot:
                table = app._table("builds")
                show = table.show

                def timed_show(entries):
                    began = time.perf_counter()
                    show(entries)
                    shows.append(time.perf_counter() - began)

                table.show = timed_show
                box = {}
                worker = threading.Thread(target=lambda: box.update(status=BuildSession(settings, repo).build(
                    argv, emit=lambda line: None, err=lambda line: None)))
                began = time.perf_counter()
                worker.start()
                while worker.is_alive():
                    await pilot.pause(0.05)
                walls.append(time.perf_counter() - began)
                await pilot.pause(1.5)
                rows = [row for _, row in table._all]
                lines_seen.append(max((r.log_lines for r in rows), default=0))

        try:
            for _ in range(max(1, min(repeat, 3))):
                asyncio.run(run_once())
                plain.append(sum(_plain_cli(url, b) for b in plan.builds))
        finally:
            _cleanup(url, [t for b in plan.builds for t in b.tags if not t.startswith("dynamo:latest")])
    ms = lambda xs, q: round(statistics.quantiles(xs, n=100)[q - 1] * 1000, 2) if len(xs) > 2 else None  # noqa: E731
    return {"build_with_pane_median_s": round(statistics.median(walls), 2),
            "plain_cli_median_s": round(statistics.median(plain), 2),
            "overhead_percent": round((statistics.median(walls) - statistics.median(plain)) / statistics.median(plain) * 100, 1),
            "log_lines_recorded": lines_seen, "pane_polls": len(polls),
            "poll_median_ms": round(statistics.median(polls) * 1000, 2), "poll_p95_ms": ms(polls, 95),
            "table_update_median_ms": round(statistics.median(shows) * 1000, 2) if shows else None,
            "table_update_p95_ms": ms(shows, 95)}


MEASURES = {"dynamo_build_wall": measure_build_wall, "dynamo_pane_5000_lines": measure_pane_5000_lines}
