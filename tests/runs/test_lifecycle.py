"""`servedeck container ...` against the real Docker Engine with a locally built helper
image running the shipped init-run.sh: the seed's start/stop contract end to end."""

from __future__ import annotations

import json
import re
import sys
import subprocess
import time
import urllib.request
from pathlib import Path

import docker.errors
import pytest

pytestmark = pytest.mark.integration

STANDIN_WARNINGS = [  # no dcgm-exporter, no nv-hostengine in the stand-in image: real warnings
    "dcgm-exporter binary not found at /usr/bin/dcgm-exporter; skipping capability grant",
    "nv-hostengine failed to start; dcgm metrics may be degraded",
    "dcgm-exporter failed to start",
]
HOOK = "echo hook-ran-as-$(id -un); sleep 1.2"


def pointer_values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def test_start_status_replace_stop(helper_env, docker_client):
    env = helper_env(init_hook=HOOK)
    done = env.container_cli("start")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    beat = next(i for i, line in enumerate(lines) if line.startswith("Container starting..."))
    ready = next(i for i, line in enumerate(lines) if " ready: run " in line)
    warned = [line.removeprefix("WARNING: ") for line in lines if line.startswith("WARNING: ")]
    assert warned == STANDIN_WARNINGS
    assert beat < lines.index(f"WARNING: {STANDIN_WARNINGS[0]}") < ready
    host_line, container_line = lines[ready + 1], lines[ready + 2]
    assert host_line.startswith("CONTAINER_RUN_META_JSON_HOST=") and container_line.startswith("CONTAINER_RUN_META_JSON=")

    # the pointer holds only the two manifest pointers; the manifest is the seed's
    pointer = pointer_values(env.pointer)
    assert set(pointer) == {"CONTAINER_RUN_META_JSON", "CONTAINER_RUN_META_JSON_HOST"}
    assert pointer["CONTAINER_RUN_META_JSON_HOST"] == host_line.split("=", 1)[1]
    manifest = json.loads(Path(pointer["CONTAINER_RUN_META_JSON_HOST"]).read_text())
    run_id = manifest["run_id"]
    assert re.fullmatch(r"container-run-\d{8}T\d{6}Z-[0-9a-f]+", run_id)
    assert manifest["warnings"] == STANDIN_WARNINGS
    assert manifest["telemetry_surfaces"]["node_metrics"]["status"] == "running"
    assert manifest["telemetry_surfaces"]["dcgm_metrics"]["status"] == "absent"
    assert manifest["telemetry_surfaces"]["sglang_metrics"]["status"] == "expected"
    assert manifest["storage"]["log_file"] == f"/telemetry/logs/{run_id}.log"
    assert manifest["paths"]["container"]["prometheus"] == f"prometheus/{run_id}"
    assert set(manifest["profile_storage"]) >= {"deep_gemm", "flashinfer", "moe_configs", "torchinductor", "triton"}
    assert set(manifest["storage_roots"]) == {"models", "huggingface", "profiles"}
    assert (env.root / "telemetry" / "jaeger" / run_id / "badger" / "key").is_dir()
    with urllib.request.urlopen(f"http://127.0.0.1:{env.node_port}/metrics", timeout=5) as resp:
        assert b"node_load1" in resp.read()  # the in-container node_exporter really runs
    log = (env.root / "telemetry" / "logs" / f"{run_id}.log").read_text()
    assert "hook-ran-as-devuser" in log and "WARNING: dcgm-exporter failed to start" in log

    status = env.container_cli("status")
    assert status.returncode == 0 and run_id in status.stdout and "3 warning(s)" in status.stdout
    as_json = json.loads(env.container_cli("status", "--json").stdout)
    assert as_json["state"] == "running" and as_json["run_id"] == run_id and as_json["manifest_state"] == "ok"
    document = json.loads(env.cli("status", "--json").stdout)
    (row,) = [r for r in document["container_runs"] if r["run_id"] == run_id]
    assert row["warnings"] == STANDIN_WARNINGS and row["state"] == "current"
    assert row["telemetry_surfaces"]["node_metrics"] == "running" and row["valid_for_benchmark"] is False
    assert row["manifest_path"] == pointer["CONTAINER_RUN_META_JSON_HOST"]
    assert row["container_state"] == "running"

    first_id = docker_client.containers.get(env.container).id
    again = env.container_cli("start")
    assert again.returncode == 0, again.stderr
    assert "Replacing container" in again.stdout
    new_run = json.loads(Path(pointer_values(env.pointer)["CONTAINER_RUN_META_JSON_HOST"]).read_text())["run_id"]
    assert new_run != run_id
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(first_id)
    states = {r["run_id"]: r["state"] for r in json.loads(env.cli("status", "--json").stdout)["container_runs"]}
    assert states == {new_run: "current", run_id: "history"}

    refused = env.container_cli("stop")  # no --yes and no terminal to ask on
    assert refused.returncode == 3 and "not confirmed" in refused.stderr
    assert docker_client.containers.get(env.container).status == "running"
    stopped = env.container_cli("stop", "--yes")
    assert stopped.returncode == 0, stopped.stderr
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(env.container)
    assert env.pointer.read_text() == ""
    assert env.container_cli("status").returncode == 1


def test_failed_start_exits_nonzero_with_the_last_50_log_lines(helper_env, docker_client):
    hook = "i=1; while [ $i -le 60 ]; do echo boom-line-$i; i=$((i+1)); done; exit 7"
    env = helper_env(init_hook=hook)
    done = env.container_cli("start")
    assert done.returncode == 1
    assert "stopped before it was ready (exit code 7)" in done.stderr
    tail = done.stderr.split("lines of the container log ---\n", 1)[1].splitlines()
    tail = tail[: tail.index(next(t for t in tail if t.startswith("init-run: INIT_RUN_HOOK failed"))) + 1]
    assert len(tail) == 50 and tail[-1] == "init-run: INIT_RUN_HOOK failed with status 7; stopping"
    assert tail[0] == "boom-line-12" and "boom-line-11" not in tail
    assert "CONTAINER_RUN_META_JSON" not in done.stdout and env.pointer.read_text() == ""


def test_host_manifest_root_overrides_where_manifests_land(helper_env, tmp_path):
    elsewhere = tmp_path / "manifests-elsewhere"
    # exporters that are present but exit at once: the "failed" statuses and their warnings
    env = helper_env(env={"NODE_EXPORTER_BIN": "/bin/false", "DCGM_EXPORTER_BIN": "/bin/true"})
    done = env.container_cli("start", env={"HOST_MANIFEST_ROOT": str(elsewhere)})
    assert done.returncode == 0, done.stderr
    host = next(line for line in done.stdout.splitlines() if line.startswith("CONTAINER_RUN_META_JSON_HOST="))
    path = Path(host.split("=", 1)[1])
    assert path.parent == elsewhere and path.is_file()
    manifest = json.loads(path.read_text())
    assert manifest["warnings"] == [
        "setcap not available; ensure dcgm-exporter has cap_sys_admin",
        "nv-hostengine failed to start; dcgm metrics may be degraded",
        "dcgm-exporter failed to start",
        "node_exporter failed to start",
    ]
    assert manifest["telemetry_surfaces"]["node_metrics"]["status"] == "failed"
    assert manifest["telemetry_surfaces"]["dcgm_metrics"]["status"] == "failed"
    assert not list((env.root / "telemetry" / "container_runs").glob("*.json"))
    assert env.container_cli("stop", "--yes").returncode == 0


def test_serve_and_unserve_as_the_user_into_the_run_log(helper_env):
    env = helper_env(serve_template=["sh", "-c", "echo serving {model} on {port} as $(id -un); exec sleep 300"],
                     serve_model="/models/tiny", serve_port=31234)
    assert env.container_cli("start").returncode == 0
    run_id = json.loads(Path(pointer_values(env.pointer)["CONTAINER_RUN_META_JSON_HOST"]).read_text())["run_id"]
    log = env.root / "telemetry" / "logs" / f"{run_id}.log"
    assert log.stat().st_uid == 1000  # the user's: the server appends to it
    served = env.container_cli("serve")
    assert served.returncode == 0, served.stderr
    deadline = time.monotonic() + 10
    while "serving /models/tiny on 31234 as devuser" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-500:]
        time.sleep(0.1)
    twice = env.container_cli("serve")
    assert twice.returncode == 1 and "already serving" in twice.stderr
    assert env.container_cli("unserve").returncode == 0
    assert "servedeck: stopped SGLang (pid " in log.read_text()
    gone = env.container_cli("unserve")
    assert gone.returncode == 1 and "not running" in gone.stderr


def test_readonly_refuses_every_change(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"backends:\n  runs:\n    - name: h\n      storage_root: {tmp_path}\n"
                      "      container: sdtest-helper-never\n")
    for what in ("start", "stop", "serve", "unserve"):
        done = subprocess.run([sys.executable, "-m", "servedeck", "--readonly", "container", what,
                               "--config", str(config), "--yes"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 3 and "refused in read-only mode" in done.stderr  # EXIT_REFUSED
    assert not (tmp_path / "telemetry").exists()


def test_the_shipped_dockerfile_builds_on_a_base_image_and_runs(helper_env, standin_image, docker_client):
    """servedeck/helper/Dockerfile on a configurable base (here the stand-in, no registry)."""
    tag = f"{standin_image.split(':')[0]}-derived:latest"
    env = helper_env(image=tag, base_image=standin_image)
    try:
        built = env.container_cli("build")
        assert built.returncode == 0, built.stderr
        assert docker_client.images.get(tag).attrs["Config"]["Env"].count("PYTHONPATH=/workspaces/sglang/python") == 1
        started = env.container_cli("start")
        assert started.returncode == 0, started.stderr
        assert "CONTAINER_RUN_META_JSON_HOST=" in started.stdout
    finally:
        env.container_cli("stop", "--yes")
        docker_client.images.remove(tag, force=True)


def test_unusable_storage_root_is_one_clear_line(helper_env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = helper_env(storage_root=str(blocker / "root"))
    done = env.container_cli("start")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"cannot prepare storage under {blocker / 'root'}" in done.stderr
