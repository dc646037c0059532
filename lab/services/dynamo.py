"""A small Dynamo-shaped git checkout with stand-in Dockerfiles, and one build from it.

The stand-ins keep Dynamo's file names, stage names (`base`, `wheel_builder`, `dev`;
`dynamo_base`, `framework`, `runtime`, `dev`; `local-dev`) and build args, but build on
static busybox `FROM scratch` with an /etc/passwd that has `ubuntu` at UID 1000 in place
of the CUDA base (nothing is pulled). Every build arg lands in a label and an ENV, so a
test or a newcomer can see it in the image. The base Dockerfile uses `RUN --mount` as
the real one does, so it goes through the BuildKit CLI; the framework Dockerfiles build
through the Engine API. `lab up` makes the checkout under DIR/dynamo and builds the
vllm image (build.sh's defaults) so the Builds and Images panes are live.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from servedeck.lab.procs import Log, is_ours, spawn, stop
from servedeck.lab.services.base import Context, python

STANDIN_UID = 1000
BUSYBOX = Path("/bin/busybox")
TARGET_FILE = "target.json"
BUILD_PID_FILE = "build.pid"
FRAMEWORK_ARGS = ("FRAMEWORK", "VERSION", "PYTHON_PACKAGE_VERSION", "NIXL_REF", "NIXL_UCX_REF", "ENABLE_KVBM",
                  "RELEASE_BUILD", "BASE_IMAGE", "BASE_IMAGE_TAG")

BASE_DOCKERFILE = """\
# Stand-in for Dynamo's container/Dockerfile (servedeck lab): same stages and build args,
# on static busybox instead of the CUDA base. No `# syntax=` line: BuildKit would pull it.
ARG BASE_IMAGE=nvcr.io/nvidia/cuda-dl-base
ARG BASE_IMAGE_TAG=25.01-cuda12.8-devel-ubuntu24.04

FROM scratch AS base
COPY container/standin/rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]

FROM scratch AS wheel_builder
COPY container/standin/rootfs/bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /wheels && echo ai_dynamo-standin.whl > /wheels/list"]

FROM base AS dev
{args}
COPY --from=wheel_builder /wheels /opt/dynamo/wheels
RUN --mount=type=cache,target=/root/.cache/standin echo "dynamo ${{VERSION}} (${{PYTHON_PACKAGE_VERSION}})" > /opt/dynamo/version
{labels}
LABEL ai.dynamo.target="dev"
WORKDIR /workspace
"""

FRAMEWORK_DOCKERFILE = """\
# Stand-in for Dynamo's container/Dockerfile.{fw} (servedeck lab): same stages and build args.
ARG DYNAMO_BASE_IMAGE=dynamo-base:unset
ARG BASE_IMAGE=nvcr.io/nvidia/cuda-dl-base
ARG BASE_IMAGE_TAG=25.01-cuda12.8-devel-ubuntu24.04
ARG RUNTIME_IMAGE=nvcr.io/nvidia/cuda
ARG RUNTIME_IMAGE_TAG=12.8.1-runtime-ubuntu24.04

FROM ${{DYNAMO_BASE_IMAGE}} AS dynamo_base

# framework: the real one starts FROM ${{BASE_IMAGE}}:${{BASE_IMAGE_TAG}}
FROM dynamo_base AS framework
ARG {FW}_FRAMEWORK
RUN mkdir -p /opt/{fw} && echo "{fw} stand-in (flag ${{{FW}_FRAMEWORK}})" > /opt/{fw}/README

# runtime: the real one starts FROM ${{RUNTIME_IMAGE}}:${{RUNTIME_IMAGE_TAG}}
FROM dynamo_base AS runtime
ARG DYNAMO_BASE_IMAGE
{args}
COPY --from=framework /opt/{fw} /opt/{fw}
RUN echo "{fw} runtime ${{VERSION}}" > /opt/dynamo/runtime
{labels}
LABEL ai.dynamo.dynamo-base-image="${{DYNAMO_BASE_IMAGE}}"
LABEL ai.dynamo.target="runtime"

FROM runtime AS dev
RUN echo dev > /opt/dynamo/dev
LABEL ai.dynamo.target="dev"
WORKDIR /workspace
"""

LOCAL_DEV_DOCKERFILE = """\
# Stand-in for Dynamo's container/Dockerfile.local_dev (servedeck lab): remaps `ubuntu`
# to the caller's UID/GID, adds a sudo stand-in, runs as ubuntu.
ARG DEV_BASE=
FROM ${DEV_BASE} AS local-dev
ARG USER_UID
ARG USER_GID
ARG ARCH=amd64
USER root
RUN test -n "$USER_UID" && test -n "$USER_GID" || { echo "USER_UID and USER_GID must be set" >&2; exit 1; }; \\
    sed -i "s/^ubuntu:x:[0-9]*:[0-9]*:/ubuntu:x:${USER_UID}:${USER_GID}:/" /etc/passwd && \\
    sed -i "s/^ubuntu:x:[0-9]*:/ubuntu:x:${USER_GID}:/" /etc/group && \\
    mkdir -p /home/ubuntu /workspace && chown -R "${USER_UID}:${USER_GID}" /home/ubuntu /workspace
RUN printf '#!/bin/sh\\nexec "$@"\\n' > /bin/sudo && chmod 755 /bin/sudo
LABEL ai.dynamo.target="local-dev" ai.dynamo.user-uid="${USER_UID}" ai.dynamo.user-gid="${USER_GID}" ai.dynamo.arch="${ARCH}"
ENV HOME=/home/ubuntu
USER ubuntu
WORKDIR /workspace
"""


def _args_block() -> tuple[str, str]:
    args = "\n".join(f"ARG {a}" for a in FRAMEWORK_ARGS)
    env = " ".join(f'DYNAMO_BUILD_{a}="${{{a}}}"' for a in FRAMEWORK_ARGS)
    labels = "LABEL " + " ".join(f'ai.dynamo.{a.lower().replace("_", "-")}="${{{a}}}"' for a in FRAMEWORK_ARGS)
    return args, f"ENV {env}\n{labels}"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=servedeck lab", "-c", "user.email=lab@servedeck.invalid",
                    *args], check=True, capture_output=True, text=True, timeout=30)


def make_checkout(repo: Path, busybox: Path = Path("/bin/busybox"), tag: str | None = None) -> Path:
    """A git checkout (branch main, one commit, optionally tagged) shaped like Dynamo's."""
    repo = Path(repo)
    container = repo / "container"
    rootfs = container / "standin" / "rootfs"
    (rootfs / "bin").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc").mkdir(exist_ok=True)
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    (rootfs / "etc" / "passwd").write_text(
        f"root:x:0:0:root:/root:/bin/sh\nubuntu:x:{STANDIN_UID}:{STANDIN_UID}:Ubuntu:/home/ubuntu:/bin/sh\n")
    (rootfs / "etc" / "group").write_text(f"root:x:0:\nubuntu:x:{STANDIN_UID}:\n")
    for d in ("tmp", "root", "opt/dynamo", "workspace", "home/ubuntu"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
        (rootfs / d / ".keep").write_text("")
    args, labels = _args_block()
    (container / "Dockerfile").write_text(BASE_DOCKERFILE.format(args=args, labels=labels))
    for fw in ("vllm", "sglang", "trtllm"):
        (container / f"Dockerfile.{fw}").write_text(
            FRAMEWORK_DOCKERFILE.format(fw=fw, FW=fw.upper(), args=args, labels=labels))
    (container / "Dockerfile.local_dev").write_text(LOCAL_DEV_DOCKERFILE)
    (container / "README.md").write_text("Stand-in Dynamo container/ directory made by servedeck (lab and tests).\n")
    (repo / ".dockerignore").write_text(".git\n")
    if not (repo / ".git").exists():
        _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "stand-in Dynamo checkout")
    if tag:
        _git(repo, "tag", tag)
    return repo


def ulimit_caps() -> dict[str, int]:
    """This host's hard limits where they are below run.sh's ulimits (an unprivileged or
    nested engine cannot raise them; its containers then fail to start)."""
    import resource

    from servedeck.backends.dynamo.runsh import RUN_SH_ULIMITS

    which = {"memlock": resource.RLIMIT_MEMLOCK, "stack": resource.RLIMIT_STACK, "nofile": resource.RLIMIT_NOFILE}
    caps = {}
    for name, limit in which.items():
        hard = resource.getrlimit(limit)[1]
        wanted = RUN_SH_ULIMITS[name]
        if hard != resource.RLIM_INFINITY and (wanted == -1 or hard < wanted):
            caps[name] = int(hard)
    return caps


def lab_target(ctx: Context) -> dict:
    """The dynamo target of the lab's servedeck.yaml."""
    return {"run_ulimits": ulimit_caps(), "name": "lab-dynamo", "url": ctx.info.docker_url, "repo": str(ctx.dir / "dynamo"),
            "state_dir": str(ctx.dir / "dynamo-state"), "build_network": "none"}  # stand-ins need no network; hosts here have no docker0 bridge


def prepare_dynamo(ctx: Context) -> None:
    """The checkout and the lab's dynamo target (before servedeck.yaml is written)."""
    if not ctx.info.docker_url:
        ctx.log("dynamo: no Docker Engine; skipped")
        return
    if not BUSYBOX.exists():
        ctx.log(f"dynamo: {BUSYBOX} missing (apt-get install busybox-static); skipped")
        return
    target = lab_target(ctx)
    repo = Path(target["repo"])
    if not (repo / ".git").exists():
        make_checkout(repo, BUSYBOX)
    ctx.path("dynamo-state", TARGET_FILE).write_text(json.dumps(target, indent=2) + "\n")


def start_dynamo_build(ctx: Context) -> None:
    """build.sh's default build (base, then vllm) in the background, through the verb a
    newcomer would type: the cockpit opened right after shows it live in the Builds pane."""
    target = recorded_target(ctx.dir)
    if target is None:
        return
    argv = [python(), "-m", "servedeck", "dynamo", "build", "--config", str(ctx.info.config_path),
            "--repo", target["repo"]]
    log_path = ctx.path("logs", "dynamo-build.log")
    pid, started = spawn(argv, log_path, cwd=ctx.dir)
    ctx.path("dynamo-state", BUILD_PID_FILE).write_text(json.dumps({"pid": pid, "start_time": started}))
    ctx.log(f"dynamo: stand-in checkout {target['repo']}; build.sh's default build runs (log {log_path})")


def stop_dynamo_build(dir: Path, log: Log) -> None:
    """Stop the lab's build if it still runs (its records then read as lost or cancelled)."""
    try:
        data = json.loads((Path(dir) / "dynamo-state" / BUILD_PID_FILE).read_text())
    except (OSError, ValueError):
        return
    if is_ours(data["pid"], data["start_time"]):
        log("dynamo: stopping the lab's build")
        stop(data["pid"], data["start_time"])
    (Path(dir) / "dynamo-state" / BUILD_PID_FILE).unlink(missing_ok=True)


def recorded_target(dir: Path) -> dict | None:
    try:
        return json.loads((Path(dir) / "dynamo-state" / TARGET_FILE).read_text())
    except (OSError, ValueError):
        return None
