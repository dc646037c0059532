"""Real builds and runs on the Docker Engine, from a stand-in checkout made here: both
build paths (BuildKit CLI for `RUN --mount`, Engine API otherwise), every target with its
build args visible in the image, cache and --no-cache, the remapped local-dev UID, a
failing step, a missing stage, cancel, and run.sh's container with and without GPUs."""

from __future__ import annotations

import threading
import time

import docker.errors
import pytest

from dynamo_support import PREFIX, git
from servedeck.backends.dynamo.backend import DynamoBackend, DynamoSettings
from servedeck.backends.dynamo.records import BuildStore
from servedeck.backends.dynamo.runsh import plan_run, ulimits
from servedeck.backends.dynamo.session import BuildSession, RunSession
from servedeck.lab.services.dynamo import ulimit_caps

pytestmark = pytest.mark.integration
UID = 4321


class Chain:
    """One build.sh invocation run for real: its exit status, output and records."""

    def __init__(self, settings, repo, argv):
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.session = BuildSession(settings, repo=repo)
        self.status = self.session.build(argv, emit=self.lines.append, err=self.errors.append, cwd=repo)
        self.records = [r for r in self.session.store.records() if r.invocation == self.session.invocation]


@pytest.fixture(scope="module")
def module_settings(docker_url, tmp_path_factory):
    return DynamoSettings(name=f"{PREFIX}-host", url=docker_url, state_dir=str(tmp_path_factory.mktemp("state")),
                          build_network="none", run_ulimits=ulimit_caps())


@pytest.fixture(scope="module")
def local_dev(module_settings, built_checkout, docker_url):
    """`build.sh --target local-dev --uid 4321 --gid 4321 --tag PREFIX:ld` (three builds)."""
    import docker

    chain = Chain(module_settings, built_checkout, ["--target", "local-dev", "--uid", str(UID), "--gid", str(UID),
                                                     "--tag", f"{PREFIX}:ld"])
    yield chain
    api = docker.APIClient(base_url=docker_url, timeout=120)
    for rec in chain.records:
        for tag in rec.tags:
            if tag.startswith(PREFIX) or tag.startswith("dynamo-base:"):
                try:
                    api.remove_image(tag)
                except docker.errors.APIError:
                    pass
    api.close()


def labels(api, ref: str) -> dict:
    return api.inspect_image(ref)["Config"]["Labels"]


def test_chain_builds_through_both_paths_and_sets_every_tag(local_dev, api):
    assert local_dev.status == 0, local_dev.errors
    base, fw, ld = local_dev.records
    assert [(r.role, r.via, r.state) for r in local_dev.records] == [
        ("base", "buildkit-cli", "done"), ("framework", "engine-api", "done"), ("local-dev", "engine-api", "done")]
    version = local_dev.session.plan([]).version
    assert base.tags == [f"dynamo-base:{version}"]
    assert fw.tags == [f"{PREFIX}:ld", "dynamo:latest-vllm"]
    assert ld.tags == [f"{PREFIX}:ld-local-dev", "dynamo:latest-vllm-local-dev"]
    for rec in local_dev.records:
        # dynamo:latest-* is shared by every build on this engine (the lab's too): only existence is ours
        ids = {api.inspect_image(t)["Id"] for t in rec.tags if not t.startswith("dynamo:latest-")}
        assert ids == {rec.image_id}
        assert all(api.inspect_image(t) for t in rec.tags)
        assert rec.step == rec.steps > 0
    assert "Successfully built local-dev images" in local_dev.lines


def test_build_args_are_visible_in_the_images(local_dev, api):
    version = local_dev.session.plan([]).version
    fw = labels(api, f"{PREFIX}:ld")
    assert fw["ai.dynamo.version"] == version and fw["ai.dynamo.framework"] == "VLLM"
    assert fw["ai.dynamo.nixl-ref"] == "0.6.0" and fw["ai.dynamo.enable-kvbm"] == "true"
    assert fw["ai.dynamo.dynamo-base-image"] == f"dynamo-base:{version}"
    assert fw["ai.dynamo.target"] == "dev"
    env = api.inspect_image(f"dynamo-base:{version}")["Config"]["Env"]
    assert f"DYNAMO_BUILD_PYTHON_PACKAGE_VERSION={version[1:].replace('.dev.', '.dev+')}" in env
    ld = labels(api, f"{PREFIX}:ld-local-dev")
    assert (ld["ai.dynamo.target"], ld["ai.dynamo.user-uid"], ld["ai.dynamo.user-gid"]) == ("local-dev", str(UID), str(UID))


def test_local_dev_container_runs_as_the_remapped_uid(local_dev, module_settings, built_checkout):
    out: list[str] = []
    status = RunSession(module_settings, repo=built_checkout).run(
        ["--image", f"{PREFIX}:ld-local-dev", "--gpus", "none", "--", "sh", "-c", "id -u; id -g; id -un; pwd"],
        emit=out.append, err=out.append)
    assert status == 0, out
    assert out[-4:] == [str(UID), str(UID), "ubuntu", "/workspace"]


def test_rebuild_uses_the_cache_and_no_cache_does_not(local_dev, module_settings, built_checkout, api):
    again = Chain(module_settings, built_checkout, ["--tag", f"{PREFIX}:ld"])
    assert again.status == 0, again.errors
    base, fw = again.records
    assert base.image_id == local_dev.records[0].image_id and fw.image_id == local_dev.records[1].image_id
    assert base.cache_hits >= 3 and fw.cache_hits >= 10
    fresh = Chain(module_settings, built_checkout, ["--tag", f"{PREFIX}:ld", "--no-cache"])
    assert fresh.status == 0, fresh.errors
    assert [r.cache_hits for r in fresh.records] == [0, 0]
    assert fresh.records[1].image_id != local_dev.records[1].image_id
    assert api.inspect_image(f"{PREFIX}:ld")["Id"] == fresh.records[1].image_id


@pytest.mark.parametrize("argv, target", [(["--framework", "sglang", "--target", "runtime"], "runtime"),
                                          (["--framework", "none"], "dev")])
def test_other_targets_and_frameworks(settings, checkout, api, cleanup, argv, target):
    chain = Chain(settings, checkout, [*argv, "--tag", f"{PREFIX}-t:{target}"])
    cleanup += [t for r in chain.records for t in r.tags]
    assert chain.status == 0, chain.errors
    main = chain.records[-1]
    got = labels(api, main.image_id)
    assert got["ai.dynamo.target"] == target
    assert got["ai.dynamo.framework"] == argv[1].upper()
    assert main.via == ("buildkit-cli" if argv[1] == "none" else "engine-api")


def test_failing_step_is_recorded_with_its_error_and_last_lines(settings, checkout, cleanup):
    df = checkout / "container" / "Dockerfile.sglang"
    df.write_text(df.read_text().replace("FROM runtime AS dev\n",
                                         "FROM runtime AS dev\nRUN echo about to fail; echo last words; exit 7\n"))
    git(checkout, "commit", "-qam", "break the dev stage")
    chain = Chain(settings, checkout, ["--framework", "sglang", "--target", "local-dev", "--tag", f"{PREFIX}-f:x"])
    cleanup += chain.records[0].tags
    assert chain.status == 1 and chain.lines[-1] == "ERROR: Failed to build local_dev image" or chain.status != 0
    base, fw, ld = chain.records
    assert (base.state, fw.state, ld.state) == ("done", "failed", "skipped")
    assert "RUN echo about to fail" in fw.error_step
    assert "returned a non-zero code: 7" in fw.error
    assert "last words" in fw.last_lines
    row = next(r for r in DynamoBackend(settings).poll(frozenset({"builds"}))["builds"] if r.id == fw.id)
    assert "RUN echo about to fail" in row.failure and "non-zero code: 7" in row.failure


def test_missing_stage_fails_with_the_engines_error(settings, checkout, cleanup):
    chain = Chain(settings, checkout, ["--target", "nosuch", "--tag", f"{PREFIX}-m:x"])
    cleanup += chain.records[0].tags
    assert chain.status != 0
    fw = chain.records[1]
    assert fw.state == "failed" and "failed to reach build target nosuch in Dockerfile" in fw.error
    bk = Chain(settings, checkout, ["--framework", "none", "--target", "runtime", "--tag", f"{PREFIX}-m:y"])
    assert bk.status != 0 and bk.records[0].via == "buildkit-cli"
    assert "runtime" in bk.records[0].error and bk.records[0].state == "failed"


def test_cancel_stops_a_running_build_and_skips_the_rest(settings, checkout, cleanup, api):
    df = checkout / "container" / "Dockerfile.vllm"
    df.write_text(df.read_text().replace("FROM runtime AS dev\n", "FROM runtime AS dev\nRUN echo sleeping; sleep 120\n"))
    git(checkout, "commit", "-qam", "slow dev stage")
    box: dict = {}
    worker = threading.Thread(target=lambda: box.update(chain=Chain(settings, checkout, [
        "--target", "local-dev", "--tag", f"{PREFIX}-c:x"])))
    worker.start()
    store = BuildStore(settings.state_dir)
    deadline = time.time() + 180
    running = None
    while time.time() < deadline and running is None:
        running = next((r for r in store.records() if r.role == "framework" and "sleep 120" in r.current), None)
        time.sleep(0.2)
    assert running is not None, "the slow step never started"
    began = time.time()
    assert store.request_cancel(running.id)
    worker.join(timeout=60)
    assert not worker.is_alive()
    chain = box["chain"]
    cleanup += chain.records[0].tags
    assert time.time() - began < 30  # well before the 120 s sleep ends
    assert [r.state for r in chain.records] == ["done", "cancelled", "skipped"]
    assert chain.status != 0
    with pytest.raises(docker.errors.ImageNotFound):
        api.inspect_image(f"{PREFIX}-c:x")


def _host_config(api, cid):
    return api.inspect_container(cid)["HostConfig"]


def test_run_requests_gpus_in_host_config_even_without_a_gpu(local_dev, module_settings, built_checkout, api, cleanup):
    session = RunSession(module_settings, repo=built_checkout)
    with_gpus = session.create(plan_run(["--image", f"{PREFIX}:ld", "--runtime", "runc", "--name", f"{PREFIX}-gpu",
                                          "-e", "A=1", "-v", "/tmp:/mnt/host-tmp"], built_checkout))
    cleanup.append(f"container:{with_gpus}")
    hc = _host_config(api, with_gpus)
    assert hc["DeviceRequests"] == [{"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]],
                                     "Options": {}}]
    assert (hc["NetworkMode"], hc["IpcMode"], hc["ShmSize"], hc["AutoRemove"]) == ("host", "host", 10 * 2**30, True)
    assert {u["Name"]: u["Soft"] for u in hc["Ulimits"]} == ulimits(ulimit_caps())
    assert set(ulimits(None).items()) == {("memlock", -1), ("stack", 67108864), ("nofile", 65536)}
    assert hc["CapAdd"] == ["CAP_SYS_PTRACE"] and hc["Binds"] == ["/tmp:/mnt/host-tmp"]
    assert "A=1" in api.inspect_container(with_gpus)["Config"]["Env"]
    without = session.create(plan_run(["--image", f"{PREFIX}:ld", "--gpus", "none", "--name", f"{PREFIX}-nogpu"],
                                      built_checkout))
    cleanup.append(f"container:{without}")
    hc = _host_config(api, without)
    assert not hc["DeviceRequests"] and hc["Runtime"] == "runc"
    two = session.create(plan_run(["--image", f"{PREFIX}:ld", "--gpus", "device=0,1", "--runtime", "runc"], built_checkout))
    cleanup.append(f"container:{two}")
    assert _host_config(api, two)["DeviceRequests"][0]["DeviceIDs"] == ["0", "1"]


def test_run_with_gpus_on_an_engine_without_them_explains(local_dev, module_settings, built_checkout, cleanup):
    cleanup.append(f"container:{PREFIX}-nvrt")
    errors: list[str] = []
    status = RunSession(module_settings, repo=built_checkout).run(
        ["--image", f"{PREFIX}:ld", "--name", f"{PREFIX}-nvrt", "--", "true"], emit=lambda line: None, err=errors.append)
    assert status == 125
    assert "nvidia" in errors[-1] and ("--gpus none" in errors[-1] or "--runtime runc" in errors[-1])
