"""The lab's Dynamo checkout: `lab up` registers the dynamo backend, builds build.sh's
default chain in the background through the verb, and the verbs work on its checkout."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

from dynamo_support import env_without_tokens
from servedeck.backends.dynamo.backend import DynamoBackend, DynamoSettings

pytestmark = pytest.mark.integration


def test_lab_registers_dynamo_and_its_build_shows_in_the_panes(lab):
    config = yaml.safe_load(lab.config_path.read_text())
    [target] = config["backends"]["dynamo"]
    assert target["repo"] == str(lab.dir / "dynamo") and target["url"] == lab.docker_url
    backend = DynamoBackend(DynamoSettings(**target))
    deadline = time.time() + 400
    builds = ()
    while time.time() < deadline:
        builds = backend.poll(frozenset({"builds"}))["builds"]
        if len(builds) == 2 and all(b.state not in ("queued", "running") for b in builds):
            break
        time.sleep(1)
    assert [(b.chain, b.state, b.via) for b in builds] == [("1/2 base", "done", "buildkit-cli"),
                                                          ("2/2 framework", "done", "engine-api")]
    images = backend.poll(frozenset({"dynamo_images"}))["dynamo_images"]
    assert any(i.tag == builds[1].tag and i.framework == "vllm" and i.target == "dev" for i in images)
    backend.close()


def test_verbs_dry_run_in_the_lab_checkout(lab):
    repo = lab.dir / "dynamo"
    run = lambda *a: subprocess.run([sys.executable, "-m", "servedeck", "dynamo", *a, "--config", str(lab.config_path)],  # noqa: E731
                                    capture_output=True, text=True, cwd=repo, env=env_without_tokens(), timeout=60)
    build = run("build", "--dry-run")
    assert build.returncode == 0
    lines = [x for x in build.stdout.splitlines() if x.startswith("docker build")]
    assert len(lines) == 2 and lines[1].endswith(f"--tag dynamo:latest-vllm {repo}")
    dry = run("run", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.splitlines()[-1].startswith("docker run --gpus all --rm --network host")
