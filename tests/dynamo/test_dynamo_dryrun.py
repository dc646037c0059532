"""build.sh and run.sh --dry-run: the lines the pinned scripts print, in a git checkout
made here, for many flag combinations (notes/dynamo.md has the two exact examples)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dynamo_support import env_without_tokens, git
from servedeck.backends.dynamo.buildsh import ScriptExit, plan_build
from servedeck.backends.dynamo.runsh import plan_run

NOTE_BUILD = [
    "docker build -f R/container/Dockerfile --target dev --platform linux/amd64 --build-arg NIXL_REF=0.6.0 "
    "--build-arg BASE_IMAGE=nvcr.io/nvidia/cuda-dl-base --build-arg BASE_IMAGE_TAG=25.01-cuda12.8-devel-ubuntu24.04 "
    "--build-arg FRAMEWORK=VLLM --build-arg VLLM_FRAMEWORK=1 --build-arg VERSION=V --build-arg PYTHON_PACKAGE_VERSION=PV "
    "--build-arg ENABLE_KVBM=true --build-arg NIXL_UCX_REF=v1.19.0 --tag dynamo-base:V R",
    "docker build -f R/container/Dockerfile.vllm --target dev --platform linux/amd64 --build-arg NIXL_REF=0.6.0 "
    "--build-arg BASE_IMAGE=nvcr.io/nvidia/cuda-dl-base --build-arg BASE_IMAGE_TAG=25.01-cuda12.8-devel-ubuntu24.04 "
    "--build-arg FRAMEWORK=VLLM --build-arg VLLM_FRAMEWORK=1 --build-arg VERSION=V --build-arg PYTHON_PACKAGE_VERSION=PV "
    "--build-arg ENABLE_KVBM=true --build-arg NIXL_UCX_REF=v1.19.0 --build-arg DYNAMO_BASE_IMAGE=dynamo-base:V "
    "--tag dynamo:V-vllm --tag dynamo:latest-vllm R",
]
NOTE_RUN = ("docker run --gpus all --rm --network host --runtime nvidia --shm-size=10G --ulimit memlock=-1 "
            "--ulimit stack=67108864 --ulimit nofile=65536:65536 -w /workspace --cap-add CAP_SYS_PTRACE --ipc host "
            "dynamo:latest-vllm")


def plan(argv, repo, env=None, **kw):
    return plan_build(argv, repo, env=env if env is not None else {}, uid=0, gid=0, **kw)


def docker_lines(p) -> list[str]:
    return [line for line in p.render() if line.startswith("docker ")]


def substitute(lines, repo, version, py_version):
    return [line.replace("PYTHON_PACKAGE_VERSION=PV", f"PYTHON_PACKAGE_VERSION={py_version}")
            .replace("=V ", f"={version} ").replace(":V ", f":{version} ").replace(":V-", f":{version}-")
            .replace(" R/", f" {repo}/").replace(" R", f" {repo}") for line in lines]


def test_default_build_matches_the_notes_example_untagged(checkout):
    commit = git(checkout, "rev-parse", "--short", "HEAD")
    p = plan(["--dry-run"], checkout)
    out = p.render()
    assert out[0] == "No git release tag found, setting to unknown version: 0.0.1"
    assert out[1:6] == ["", "=" * 30, "DRY RUN: COMMANDS PRINTED ONLY", "=" * 30, ""]
    assert "Forcing enable_kvbm to true in VLLM image build" in out
    assert docker_lines(p) == substitute(NOTE_BUILD, checkout.resolve(), f"v0.0.1.dev.{commit}", f"0.0.1.dev+{commit}")
    headers = [line for line in out if line.startswith("Starting Build")]
    assert headers == ["Starting Build 1: Base Image", "Starting Build 2: Framework Image"]


def test_tag_on_an_ancestor_gives_a_dev_version(checkout):
    git(checkout, "tag", "v0.5.1")
    (checkout / "NEWS").write_text("later\n")
    git(checkout, "add", "NEWS")
    git(checkout, "commit", "-q", "-m", "after the tag")
    commit = git(checkout, "rev-parse", "--short", "HEAD")
    p = plan(["--dry-run"], checkout)
    assert "No git release tag found" not in "\n".join(p.render())
    assert p.version == f"v0.5.1.dev.{commit}"
    assert p.builds[1].tags == (f"dynamo:v0.5.1.dev.{commit}-vllm", "dynamo:latest-vllm")
    assert f"--build-arg PYTHON_PACKAGE_VERSION=0.5.1.dev+{commit}" in docker_lines(p)[0]


def test_tag_on_the_commit_is_the_version(checkout):
    git(checkout, "tag", "v0.6.0")
    p = plan(["--dry-run"], checkout)
    assert docker_lines(p) == substitute(NOTE_BUILD, checkout.resolve(), "v0.6.0", "0.6.0")
    assert p.builds[1].tags == ("dynamo:v0.6.0-vllm", "dynamo:latest-vllm")


def test_without_a_local_main_branch_the_version_is_unknown(checkout):
    git(checkout, "tag", "v0.6.0")
    git(checkout, "branch", "-m", "main", "work")
    p = plan(["--dry-run"], checkout)
    assert p.render()[0] == "No git release tag found, setting to unknown version: 0.0.1"
    assert p.version == "v0.6.0"  # the exact-match tag still wins


@pytest.mark.parametrize("argv, tags", [
    (["--tag", "my:tag"], [["dynamo-base:{V}"], ["my:tag", "dynamo:latest-vllm"]]),
    (["--framework", "SgLang", "--target", "runtime"],
     [["dynamo-base:{V}"], ["dynamo:{V}-sglang-runtime", "dynamo:latest-sglang-runtime"]]),
    (["--framework", "none"], [["dynamo:{V}-none", "dynamo:latest-none"]]),
    (["--target", "local-dev"], [["dynamo-base:{V}"], ["dynamo:{V}-vllm", "dynamo:latest-vllm"],
                                 ["dynamo:{V}-vllm-local-dev", "dynamo:latest-vllm-local-dev"]]),
    (["--target", "local-dev", "--tag", "x:y"], [["dynamo-base:{V}"], ["x:y", "dynamo:latest-vllm"],
                                                ["x:y-local-dev", "dynamo:latest-vllm-local-dev"]]),
    (["--dev-image", "dynamo:latest-vllm", "--tag", "ignored:tag"], [["dynamo:latest-vllm-local-dev"]]),
    (["--dev-image", "myimage"], [["myimage:latest-local-dev"]]),
])
def test_tags_of_each_build(checkout, argv, tags):
    p = plan(["--dry-run", *argv], checkout)
    assert [list(b.tags) for b in p.builds] == [[t.format(V=p.version) for t in ts] for ts in tags]


def test_framework_none_is_one_build_from_the_base_dockerfile(checkout):
    p = plan(["--dry-run", "--framework", "none"], checkout)
    [build] = p.builds
    assert build.words[:4] == ("-f", f"{checkout.resolve()}/container/Dockerfile", "--target", "dev")
    assert "DYNAMO_BASE_IMAGE" not in build.line()
    assert "Forcing enable_kvbm" not in "\n".join(p.render())
    assert "ENABLE_KVBM" not in build.line()


def test_user_build_args_come_first_and_skip_the_local_dev_build(checkout):
    p = plan(["--dry-run", "--build-arg", "A=1", "--target", "local-dev", "--build-arg", "B=two", "--uid", "4321",
              "--gid", "99"], checkout)
    base, fw, local = p.builds
    assert base.words[6:12] == ("--build-arg", "A=1", "--build-arg", "B=two", "--build-arg", "NIXL_REF=0.6.0")
    assert fw.words[2:4] == ("--target", "dev")
    assert local.line() == (f"docker build --build-arg DEV_BASE=dynamo:{p.version}-vllm --build-arg USER_UID=4321 "
                            "--build-arg USER_GID=99 --build-arg ARCH=amd64 --file "
                            f"{checkout.resolve()}/container/Dockerfile.local_dev --tag dynamo:{p.version}-vllm-local-dev "
                            f"--tag dynamo:latest-vllm-local-dev {checkout.resolve()}/container")
    out = p.render()
    assert "User 'ubuntu' will have UID: 4321, GID: 99" in out
    assert out[-1].endswith("container/run.sh --image dynamo:latest-vllm-local-dev --mount-workspace ...")


def test_show_image_options_keeps_the_scripts_spacing(checkout):
    p = plan(["--dry-run", "--build-arg", "A=1"], checkout)
    line = next(x for x in p.render() if x.startswith("   Build Arguments: "))
    assert line.startswith("   Build Arguments: '--build-arg A=1  --build-arg NIXL_REF=0.6.0  --build-arg BASE_IMAGE=")
    assert line.endswith("--build-arg ENABLE_KVBM=true  --build-arg NIXL_UCX_REF=v1.19.0 '")


def test_no_cache_goes_after_the_context_of_builds_one_and_two(checkout):
    p = plan(["--dry-run", "--no-cache", "--target", "local-dev"], checkout)
    base, fw, local = docker_lines(p)
    assert base.endswith(f"{checkout.resolve()} --no-cache") and fw.endswith(f"{checkout.resolve()} --no-cache")
    assert "--no-cache" not in local


def test_release_arm64_efa_cache_and_base_image(checkout):
    p = plan(["--dry-run", "--release-build", "--platform", "linux/arm64", "--make-efa", "--cache-from", "type=local,src=/c",
              "--base-image", "my/base", "--base-image-tag", "1.0", "--target", "local-dev"], checkout)
    out = p.render()
    assert "Performing a release build!" in out
    base = docker_lines(p)[0]
    assert "--platform linux/arm64 --build-arg ARCH=arm64 --build-arg ARCH_ALT=aarch64 --build-arg NIXL_REF=0.6.0" in base
    assert "--build-arg BASE_IMAGE=my/base --build-arg BASE_IMAGE_TAG=1.0" in base
    assert "--build-arg RELEASE_BUILD=true --build-arg ENABLE_KVBM=true --build-arg NIXL_UCX_REF=9d2b88a1f67faf9876f267658bd077b379b8bb76" in base
    assert "--cache-from type=local,src=/c --tag dynamo-base:" in base
    assert "--build-arg ARCH=arm64 --file" in docker_lines(p)[2]


def test_trtllm_uses_its_base_and_a_build_context(checkout):
    p = plan(["--dry-run", "--framework", "trtllm"], checkout)
    fw = docker_lines(p)[1]
    assert "--build-arg BASE_IMAGE=nvcr.io/nvidia/pytorch --build-arg BASE_IMAGE_TAG=25.06-py3" in fw
    assert "--build-arg HAS_TRTLLM_CONTEXT=0 --build-arg TENSORRTLLM_PIP_WHEEL=tensorrt-llm==1.1.0rc5" in fw
    assert f"--build-context trtllm_wheel=/tmp/dummy_dir {checkout.resolve()}" in fw
    assert "Forcing enable_kvbm to true in TRTLLM image build" in p.render()


def test_tokens_are_masked_everywhere(checkout):
    env = {"HF_TOKEN": "hf_sekret_1", "GITHUB_TOKEN": "ghp_sekret_2", "GITLAB_TOKEN": "glpat_sekret_3"}
    p = plan(["--dry-run"], checkout, env=env)
    text = "\n".join(p.render())
    assert "sekret" not in text
    assert "--build-arg GITHUB_TOKEN=*** --build-arg GITLAB_TOKEN=*** --build-arg HF_TOKEN=*** --build-arg ENABLE_KVBM" in text
    assert "GITHUB_TOKEN=ghp_sekret_2" in p.builds[0].line(masked=False)  # what docker really gets


@pytest.mark.parametrize("argv, stderr", [
    (["--x"], "ERROR: Unknown option:  --x\n"),
    (["positional"], "ERROR: Unknown option:  positional\n"),
    (["--tag"], "ERROR: --tag requires an argument. \n"),
    (["--framework", "tgi"], "ERROR: Unknown framework:  TGI\n"),
    (["--dev-image", "a:b", "--target", "dev"], "ERROR: --target cannot be used with --dev-image. Use --target to build "
                                                "from scratch or --dev-image to build from existing images. \n"),
    (["--dev-image", "a:b", "--base-image", "c"], "ERROR: --dev-image cannot be used with --base-image. Use --dev-image "
                                                  "to build from existing images or --base-image to build new images. \n"),
    (["--uid", "5"], "ERROR: --uid and --gid can only be used with --dev-image or --target local-dev \n"),
    (["--use-sccache"], "ERROR: --sccache-bucket is required when --use-sccache is specified \n"),
])
def test_errors_exit_one_on_stderr(checkout, argv, stderr):
    with pytest.raises(ScriptExit) as caught:
        plan(["--dry-run", *argv], checkout)
    assert caught.value.status == 1 and caught.value.stderr == stderr


def test_dev_image_that_is_already_local_dev_is_refused_after_the_options(checkout):
    p = plan(["--dry-run", "--dev-image", "dynamo:latest-vllm-local-dev"], checkout)
    assert p.builds == [] and p.failure.status == 1
    assert p.render()[-1] == "ERROR: Cannot use local-dev image as dev image input: 'dynamo:latest-vllm-local-dev'"


def test_not_a_checkout_stops_like_set_e(tmp_path):
    (tmp_path / "container").mkdir()
    with pytest.raises(ScriptExit) as caught:
        plan(["--dry-run"], tmp_path)
    assert caught.value.status == 128 and "not a git repository" in caught.value.stderr


# -- run.sh -------------------------------------------------------------------------------


def test_run_default_matches_the_notes_example(checkout):
    p = plan_run(["--dry-run"], checkout, env={})
    assert p.render() == ["", "=" * 30, "DRY RUN: COMMANDS PRINTED ONLY", "=" * 30, "", NOTE_RUN]


@pytest.mark.parametrize("argv, expected", [
    (["--gpus", "none"], NOTE_RUN.replace("--gpus all ", "").replace("--runtime nvidia ", "")),
    (["--gpus", "None"], NOTE_RUN.replace("--gpus all ", "")),  # the script's quirk keeps the runtime
    (["--target", "local-dev"], NOTE_RUN + "-local-dev"),
    (["--framework", "sglang", "--name", "n1", "--rm", "false", "--privileged", "TRUE", "-e", "A=1", "-p", "8000:8000",
      "--", "python", "-m", "x"],
     NOTE_RUN.replace("--rm ", "").replace("dynamo:latest-vllm", "--privileged --name n1 dynamo:latest-sglang python -m x")
     .replace("nofile=65536:65536 ", "nofile=65536:65536 -e A=1 -p 8000:8000 ")),
    (["--image", "x:y", "--entrypoint", "sh", "--workdir", "/w", "--runtime", "runc"],
     NOTE_RUN.replace("nvidia", "runc").replace("-w /workspace", "-w /w").replace("dynamo:latest-vllm", "--entrypoint sh x:y")),
])
def test_run_flags(checkout, argv, expected):
    assert plan_run(["--dry-run", *argv], checkout, env={}).line() == expected


def test_run_mount_workspace_and_hf_cache(checkout, tmp_path):
    src = checkout.resolve() / "container"
    p = plan_run(["--dry-run", "--mount-workspace", "--image", "dynamo:latest-vllm-local-dev"], checkout, env={})
    assert p.line() == (f"docker run --gpus all -it --rm --network host --runtime nvidia --shm-size=10G --ulimit memlock=-1 "
                        f"--ulimit stack=67108864 --ulimit nofile=65536:65536 -e HF_TOKEN -v {src}/..:/workspace -v /tmp:/tmp "
                        f"-v /mnt/:/mnt -v {src}/.cache/huggingface:/home/ubuntu/.cache/huggingface -w /workspace "
                        f"--cap-add CAP_SYS_PTRACE --ipc host --privileged dynamo:latest-vllm-local-dev")
    hf = tmp_path / "hf"
    p = plan_run(["--dry-run"], checkout, env={"HF_HOME": str(hf)})
    assert f"-v {hf}:/root/.cache/huggingface -w /workspace" in p.line() and hf.is_dir()


@pytest.mark.parametrize("argv, stderr", [(["--bogus"], "ERROR: Unknown option:  --bogus\n"),
                                          (["--image"], "ERROR: --image requires an argument. \n"),
                                          (["--framework", "x"], "ERROR: Unknown framework:  X\n")])
def test_run_errors(checkout, argv, stderr):
    with pytest.raises(ScriptExit) as caught:
        plan_run(argv, checkout, env={})
    assert caught.value.status == 1 and caught.value.stderr == stderr


# -- the verbs, as a user types them ----------------------------------------------------


def verb(*argv, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "servedeck", "dynamo", *argv], capture_output=True, text=True,
                          cwd=cwd, env=env or env_without_tokens(), timeout=60)


def test_verb_dry_run_from_the_checkout_and_with_repo(checkout, tmp_path):
    config = tmp_path / "empty.yaml"
    config.write_text("{}\n")
    inside = verb("build", "--dry-run", "--config", str(config), cwd=checkout)
    assert inside.returncode == 0, inside.stderr
    commit = git(checkout, "rev-parse", "--short", "HEAD")
    lines = inside.stdout.splitlines()
    assert [x for x in lines if x.startswith("docker ")] == substitute(
        NOTE_BUILD, checkout.resolve(), f"v0.0.1.dev.{commit}", f"0.0.1.dev+{commit}")
    elsewhere = verb("build", "--repo", str(checkout), "--config", str(config), "--dry-run", cwd=tmp_path)
    assert [x for x in elsewhere.stdout.splitlines() if x.startswith("docker ")] == \
        [x for x in lines if x.startswith("docker ")]
    run = verb("run", "--dry-run", "--config", str(config), cwd=checkout)
    assert run.returncode == 0 and run.stdout.splitlines()[-1] == NOTE_RUN


def test_verb_errors_and_exit_codes(checkout, tmp_path):
    config = tmp_path / "empty.yaml"
    config.write_text("{}\n")
    bad = verb("build", "--x", "--config", str(config), cwd=checkout)
    assert bad.returncode == 1 and bad.stderr == "ERROR: Unknown option:  --x\n"
    assert bad.stdout == "No git release tag found, setting to unknown version: 0.0.1\n"  # printed before the options
    combo = verb("build", "--dev-image", "a", "--target", "dev", "--config", str(config), cwd=checkout)
    assert combo.returncode == 1 and combo.stderr.startswith("ERROR: --target cannot be used with --dev-image.")
    helped = verb("build", "--help", "--config", str(config), cwd=checkout)
    assert helped.returncode == 0 and helped.stdout.splitlines()[1] == "usage: build.sh"
    # after run.sh's `--`, --config belongs to the command
    run = verb("run", "--dry-run", "--config", str(config), "--", "tool", "--config", "x", cwd=checkout)
    assert run.stdout.splitlines()[-1] == NOTE_RUN + " tool --config x"


def test_verb_masks_tokens_from_the_environment(checkout, tmp_path):
    config = tmp_path / "empty.yaml"
    config.write_text("{}\n")
    env = dict(env_without_tokens(), HF_TOKEN="hf_never_shown_77")
    done = verb("build", "--dry-run", "--config", str(config), cwd=checkout, env=env)
    assert done.returncode == 0 and "hf_never_shown_77" not in done.stdout + done.stderr
    assert "--build-arg HF_TOKEN=***" in done.stdout
