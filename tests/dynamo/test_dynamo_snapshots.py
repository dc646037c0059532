"""Snapshots of the Builds and Images panes at a fixed size.

Builds come from records written to a state dir in their real on-disk format (a chain
that succeeded, one that failed at its framework build with the rest skipped); images
from a canned Engine `images`/`containers` answer, so ages and ids are fixed. Update
deliberately with `pytest --snapshot-update`.
"""

from __future__ import annotations

from servedeck.app.main_app import ServedeckApp
from servedeck.backends.dynamo.backend import DynamoBackend, DynamoSettings
from servedeck.backends.dynamo.records import BuildRecord, BuildStore
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text
from shell_support import wait_for

SIZE = (200, 16)
URL = "unix:///var/run/docker.sock"
T0 = 1_800_000_000.0


def record(inv: str, seq: int, count: int, role: str, state: str, **kw) -> BuildRecord:
    base = dict(id=f"{inv}-{seq}", invocation=inv, seq=seq, count=count, role=role, framework="vllm", target="dev",
                tag=f"dynamo:v0.6.0-vllm" if role == "framework" else "dynamo-base:v0.6.0", tags=[], base="dynamo-base:v0.6.0",
                host="snap", url=URL, command="docker build …", state=state, started_at=T0, finished_at=T0 + 42)
    base.update(kw)
    return BuildRecord(**base)


def write_records(root) -> None:
    store = BuildStore(root)
    for r in [
        record("20261201-101500-00001-001", 1, 2, "base", "done", via="buildkit-cli", step=7, steps=7, cache_hits=7,
               base="nvcr.io/nvidia/cuda-dl-base:25.01-cuda12.8-devel-ubuntu24.04", finished_at=T0 + 3),
        record("20261201-101500-00001-001", 2, 2, "framework", "done", via="engine-api", step=30, steps=30, cache_hits=30),
        record("20261201-111500-00002-002", 1, 3, "base", "done", via="buildkit-cli", step=7, steps=7, cache_hits=7,
               finished_at=T0 + 3),
        record("20261201-111500-00002-002", 2, 3, "framework", "failed", via="engine-api", step=28, steps=31,
               framework="sglang", tag="dynamo:v0.6.0-sglang", error_step="RUN echo about to fail; exit 7",
               error="The command '/bin/sh -c echo about to fail; exit 7' returned a non-zero code: 7",
               last_lines=["Step 28/31 : RUN echo about to fail; exit 7", "about to fail"]),
        record("20261201-111500-00002-002", 3, 3, "local-dev", "skipped", framework="sglang", target="local-dev",
               tag="dynamo:v0.6.0-sglang-local-dev", base="dynamo:v0.6.0-sglang", started_at=None,
               error="not built: build 2 (framework) failed"),
    ]:
        store.finish(r)


class CannedImages(DynamoBackend):
    """The real backend; only the Engine's answer to images/containers is fixed."""

    IMAGES = [
        {"Id": "sha256:" + "a1" * 32, "RepoTags": ["dynamo:v0.6.0-vllm", "dynamo:latest-vllm"], "Size": 1_990_000,
         "Created": 0, "Labels": {}},
        {"Id": "sha256:" + "b2" * 32, "RepoTags": ["dynamo:latest-vllm-local-dev", "dynamo:v0.6.0-vllm-local-dev"],
         "Size": 2_010_000, "Created": 0, "Labels": {}},
        {"Id": "sha256:" + "c3" * 32, "RepoTags": ["dynamo-base:v0.6.0"], "Size": 1_900_000, "Created": 0, "Labels": {}},
        {"Id": "sha256:" + "d4" * 32, "RepoTags": ["my-team/custom:1"], "Size": 5_000_000, "Created": 0,
         "Labels": {"ai.dynamo.framework": "SGLANG", "ai.dynamo.target": "runtime"}},
        {"Id": "sha256:" + "e5" * 32, "RepoTags": ["postgres:16"], "Size": 400_000_000, "Created": 0, "Labels": {}},
    ]
    CONTAINERS = [{"Id": "f" * 64, "Names": ["/dev-shell"], "ImageID": "sha256:" + "b2" * 32}]

    def _docker(self, fn):
        class Api:
            def images(self_inner):
                return self.IMAGES

            def containers(self_inner, all=True):
                return self.CONTAINERS

            def ping(self_inner):
                return True
        return fn(Api())


def make(tmp_path, start: str) -> ServedeckApp:
    write_records(tmp_path)
    settings = DynamoSettings(name="snap", url=URL, state_dir=str(tmp_path), interval=3600)
    loaded = load_text(f"ui: {{start_pane: {start}}}\n", "test.yaml")
    return ServedeckApp(loaded, fleet=Fleet([BackendRunner(CannedImages(settings))]))


def test_builds_pane(snap_compare, tmp_path):
    """Newest invocation first; its chain grouped (invocation once); the failed framework
    build in red with its failing step and error; the local-dev build after it skipped;
    the earlier chain done, with the path each build took (BuildKit CLI, Engine API)."""
    app = make(tmp_path, "builds")

    async def ready(pilot):
        await wait_for(pilot, lambda: app._table("builds").row_count == 5)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_images_pane(snap_compare, tmp_path):
    """Dynamo images only (not postgres): framework and target from the tag, from labels
    for a custom tag; the versioned tag first; the container using the local-dev image."""
    app = make(tmp_path, "dynamo_images")

    async def ready(pilot):
        await wait_for(pilot, lambda: app._table("dynamo_images").row_count == 4)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
