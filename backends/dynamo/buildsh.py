"""A faithful model of Dynamo's `container/build.sh` (v0.6.0 era, see notes/dynamo.md).

`plan_build(argv, repo)` parses the script's flags the way its `get_options` loop does
(same defaults, same messages, same exit codes) and returns a `BuildPlan`: the lines the
script prints, in order, interleaved with the `docker build` commands it runs. `--dry-run`
output is `plan.render()`; real execution walks the same steps (builder.py). The docker
command is kept as the script's word list (its unquoted `$BUILD_ARGS` is word-split by
bash), so the dry-run line and what is executed cannot drift apart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence, Union

from servedeck.backends.dynamo.gitversion import NotACheckout, read_version

FRAMEWORKS = ("VLLM", "TRTLLM", "NONE", "SGLANG")
DEFAULT_FRAMEWORK = "VLLM"
DEFAULT_PLATFORM = "linux/amd64"
BASE_IMAGES = {
    "VLLM": ("nvcr.io/nvidia/cuda-dl-base", "25.01-cuda12.8-devel-ubuntu24.04"),
    "NONE": ("nvcr.io/nvidia/cuda-dl-base", "25.01-cuda12.8-devel-ubuntu24.04"),
    "SGLANG": ("nvcr.io/nvidia/cuda-dl-base", "25.01-cuda12.8-devel-ubuntu24.04"),
    "TRTLLM": ("nvcr.io/nvidia/pytorch", "25.06-py3"),
}
DOCKERFILES = {"VLLM": "Dockerfile.vllm", "TRTLLM": "Dockerfile.trtllm", "NONE": "Dockerfile",
               "SGLANG": "Dockerfile.sglang"}
NIXL_REF = "0.6.0"
NIXL_UCX_REF = "v1.19.0"
NIXL_UCX_EFA_REF = "9d2b88a1f67faf9876f267658bd077b379b8bb76"
TRTLLM_DEFAULT_PIP_WHEEL = "tensorrt-llm==1.1.0rc5"
TRTLLM_INDEX_URL = "https://pypi.python.org/simple"
TRTLLM_DUMMY_CONTEXT = "/tmp/dummy_dir"
TOKEN_VARS = ("GITHUB_TOKEN", "GITLAB_TOKEN", "HF_TOKEN")
BAR = "=" * 38
DRY_RUN_BANNER = ("", "=" * 30, "DRY RUN: COMMANDS PRINTED ONLY", "=" * 30, "")

# Flags that take a value, and the script variable each sets.
VALUE_FLAGS = (
    "--platform", "--framework", "--tensorrtllm-pip-wheel-dir", "--tensorrtllm-commit",
    "--tensorrtllm-pip-wheel", "--tensorrtllm-index-url", "--tensorrtllm-git-url", "--base-image",
    "--base-image-tag", "--target", "--dev-image", "--uid", "--gid", "--build-arg", "--tag",
    "--cache-from", "--cache-to", "--build-context", "--sccache-bucket", "--sccache-region",
    "--vllm-max-jobs",
)
SWITCHES = (
    "--dry-run", "--no-cache", "--release-build", "--enable-kvbm", "--make-efa", "--use-sccache",
    "--use-default-experimental-tensorrtllm-commit", "--trtllm-use-nixl-kvcache-experimental",
)

_TOKEN_WORD = re.compile(r"\b(" + "|".join(TOKEN_VARS) + r")=(\S+)")


def mask_tokens(text: str) -> str:
    """The one deliberate difference from the script: tokens never print in clear."""
    return _TOKEN_WORD.sub(lambda m: f"{m.group(1)}=***", text)


class ScriptExit(Exception):
    """The script stops: `status` and what it printed before (stdout lines) and on stderr."""

    def __init__(self, status: int, stdout: Sequence[str] = (), stderr: str = ""):
        super().__init__(stderr or f"exit {status}")
        self.status = status
        self.stdout = list(stdout)
        self.stderr = stderr


@dataclass(frozen=True)
class DockerBuild:
    """One `docker build` the script runs: its words as bash passes them to docker."""

    role: str  # base | framework | local-dev
    words: tuple[str, ...]  # after `docker build`
    framework: str  # vllm, trtllm, sglang, none
    target: str  # the stage built (local-dev for the local-dev build)
    base: str  # what it builds FROM (base image, dynamo-base:V, or the dev image)

    @property
    def argv(self) -> tuple[str, ...]:
        return ("docker", "build", *self.words)

    def line(self, masked: bool = True) -> str:
        text = " ".join(self.argv)
        return mask_tokens(text) if masked else text

    def parsed(self) -> "ParsedBuild":
        return parse_build_words(self.words)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.parsed().tags


@dataclass(frozen=True)
class ParsedBuild:
    """A `docker build` word list read back into what an Engine API build needs."""

    dockerfile: str = ""
    target: str = ""
    platform: str = ""
    build_args: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    build_contexts: tuple[str, ...] = ()
    context: str = ""
    no_cache: bool = False
    extra: tuple[str, ...] = ()  # positional words beyond the context (bash word-splitting)


def parse_build_words(words: Sequence[str]) -> ParsedBuild:
    value_of = {"-f": "dockerfile", "--file": "dockerfile", "--target": "target", "--platform": "platform"}
    multi = {"--build-arg": "build_args", "--secret": "secrets", "--cache-from": "cache_from",
             "--cache-to": "cache_to", "--tag": "tags", "--build-context": "build_contexts"}
    out: dict = {k: [] for k in multi.values()}
    positional: list[str] = []
    no_cache = False
    i = 0
    while i < len(words):
        w = words[i]
        if w in value_of and i + 1 < len(words):
            out[value_of[w]] = words[i + 1]
            i += 2
        elif w in multi and i + 1 < len(words):
            out[multi[w]].append(words[i + 1])
            i += 2
        elif w == "--no-cache":
            no_cache = True
            i += 1
        else:
            positional.append(w)
            i += 1
    args = tuple((a.partition("=")[0], a.partition("=")[2]) for a in out.pop("build_args"))
    return ParsedBuild(build_args=args, context=positional[0] if positional else "",
                       extra=tuple(positional[1:]), no_cache=no_cache,
                       **{k: (tuple(v) if isinstance(v, list) else v) for k, v in out.items()})


Step = Union[str, DockerBuild]


@dataclass
class BuildPlan:
    """What one build.sh invocation prints and runs, in order."""

    steps: list[Step] = field(default_factory=list)
    dry_run: bool = False
    failure: ScriptExit | None = None  # set when the script stops with an error at the end
    version: str = ""
    framework: str = ""
    tokens: tuple[str, ...] = ()  # token values from the environment (to redact anywhere)

    @property
    def builds(self) -> list[DockerBuild]:
        return [s for s in self.steps if isinstance(s, DockerBuild)]

    def render(self) -> list[str]:
        """The dry-run's stdout, masked (with what the script prints when it stops at the end)."""
        lines = [mask_tokens(s) if isinstance(s, str) else s.line() for s in self.steps]
        return lines + [mask_tokens(s) for s in (self.failure.stdout if self.failure else [])]

    def emit(self, line: str) -> None:
        self.steps.append(line)


def _error(stdout: list[str], first: str, second: str = "") -> ScriptExit:
    """The script's `error`: printf '%s %s\\n' "$1" "$2" >&2; exit 1."""
    return ScriptExit(1, stdout, f"{first} {second}\n")


HELP = """usage: build.sh
  [--base-image base image]
  [--base-image-tag base image tag]
  [--platform platform for docker build]
  [--framework framework one of VLLM TRTLLM NONE SGLANG]
  [--tensorrtllm-pip-wheel-dir path to tensorrtllm pip wheel directory]
  [--tensorrtllm-commit tensorrtllm commit to use for building the trtllm wheel if the wheel is not provided]
  [--tensorrtllm-pip-wheel tensorrtllm pip wheel on artifactory]
  [--tensorrtllm-index-url tensorrtllm PyPI index URL if providing the wheel from artifactory]
  [--tensorrtllm-git-url tensorrtllm git repository URL for cloning]
  [--build-arg additional build args to pass to docker build]
  [--cache-from cache location to start from]
  [--cache-to location where to cache the build output]
  [--tag tag for image]
  [--dev-image dev image to build local-dev from]
  [--uid user ID for local-dev images (only with --dev-image or --target local-dev)]
  [--gid group ID for local-dev images (only with --dev-image or --target local-dev)]
  [--no-cache disable docker build cache]
  [--dry-run print docker commands without running]
  [--build-context name=path to add build context]
  [--release-build perform a release build]
  [--make-efa Enables EFA support for NIXL]
  [--enable-kvbm Enables KVBM support in Python 3.12]
  [--vllm-max-jobs number of parallel jobs for the vLLM build]
  [--use-sccache enable sccache for Rust/C/C++ compilation caching]
  [--sccache-bucket S3 bucket name for sccache (required with --use-sccache)]
  [--sccache-region S3 region for sccache (required with --use-sccache)]"""


def _parse(argv: Sequence[str], out: list[str]) -> dict:
    """build.sh's get_options loop: `[ "$2" ]` means the next word must be non-empty."""
    opts: dict = {"build_args": "", "dry_run": False}
    args = list(argv)
    i = 0
    while i < len(args):
        flag = args[i]
        if flag in ("-h", "-?", "--help"):
            raise ScriptExit(0, out + HELP.splitlines())
        if flag in VALUE_FLAGS:
            value = args[i + 1] if i + 1 < len(args) else ""
            if not value:
                raise _error(out, f"ERROR: {flag} requires an argument.")
            if flag == "--build-arg":
                opts["build_args"] += f"--build-arg {value} "
            else:
                opts[flag[2:]] = value
            i += 2
            continue
        if flag in SWITCHES:
            if flag in ("--use-default-experimental-tensorrtllm-commit", "--trtllm-use-nixl-kvcache-experimental"):
                nxt = args[i + 1] if i + 1 < len(args) else ""
                if nxt and not nxt.startswith("--"):
                    out.append(f"ERROR: {flag} does not take any argument")
                    raise ScriptExit(1, out)
            if flag == "--dry-run":
                opts["dry_run"] = True
                out.extend(DRY_RUN_BANNER)
            opts[flag[2:]] = True
            i += 1
            continue
        if flag == "":
            break  # `*) break`: an empty word ends the options
        raise _error(out, "ERROR: Unknown option: ", flag)
    return opts


def plan_build(argv: Sequence[str], repo: Path | str, env: Mapping[str, str] | None = None,
               uid: int | None = None, gid: int | None = None, cwd: Path | str | None = None) -> BuildPlan:
    """Everything build.sh would print and run for `argv` in checkout `repo`.

    Raises ScriptExit where the script exits early (bad flags, help, bad combinations).
    """
    env = os.environ if env is None else env
    repo = Path(repo)
    source_dir = (repo / "container").resolve()
    build_context = str(source_dir.parent)
    out: list[str] = []
    try:
        git = read_version(repo)
    except NotACheckout as exc:
        raise ScriptExit(exc.status, out, str(exc) + "\n") from None
    if git.no_tag_found:
        out.append("No git release tag found, setting to unknown version: 0.0.1")
    version, py_version = git.version, git.python_package_version
    o = _parse(argv, out)

    dev_image = o.get("dev-image", "")
    target = o.get("target", "")
    if dev_image and o.get("base-image"):
        raise _error(out, "ERROR: --dev-image cannot be used with --base-image. Use --dev-image to build from "
                          "existing images or --base-image to build new images.")
    if dev_image and target:
        raise _error(out, "ERROR: --target cannot be used with --dev-image. Use --target to build from scratch "
                          "or --dev-image to build from existing images.")
    if (o.get("uid") or o.get("gid")) and not dev_image and target != "local-dev":
        raise _error(out, "ERROR: --uid and --gid can only be used with --dev-image or --target local-dev")
    framework = (o.get("framework") or DEFAULT_FRAMEWORK).upper()
    if framework not in FRAMEWORKS:
        raise _error(out, "ERROR: Unknown framework: ", framework)
    base_image = o.get("base-image") or BASE_IMAGES[framework][0]
    base_image_tag = o.get("base-image-tag") or BASE_IMAGES[framework][1]
    fw = framework.lower()
    tag = o.get("tag") or f"dynamo:{version}-{fw}" + (f"-{target}" if target and target != "local-dev" else "")
    platform = o.get("platform", DEFAULT_PLATFORM)
    target_str = target or "dev"
    if o.get("use-sccache"):
        if not o.get("sccache-bucket"):
            raise _error(out, "ERROR: --sccache-bucket is required when --use-sccache is specified")
        if not o.get("sccache-region"):
            raise _error(out, "ERROR: --sccache-region is required when --use-sccache is specified")

    build_args = o["build_args"]
    arch = "amd64"
    if "linux/arm64" in platform:
        arch = "arm64"
        build_args += " --build-arg ARCH=arm64 --build-arg ARCH_ALT=aarch64 "
    dockerfile = f"{source_dir}/{DOCKERFILES[framework]}"
    build_args += f" --build-arg NIXL_REF={NIXL_REF} "
    local_dev = target == "local-dev"
    if local_dev:
        target_str = "dev"
    build_args += (f" --build-arg BASE_IMAGE={base_image} --build-arg BASE_IMAGE_TAG={base_image_tag}"
                   f" --build-arg FRAMEWORK={framework} --build-arg {framework}_FRAMEWORK=1"
                   f" --build-arg VERSION={version} --build-arg PYTHON_PACKAGE_VERSION={py_version}")
    tokens = tuple(env[k] for k in TOKEN_VARS if env.get(k))
    for name in ("GITHUB_TOKEN", "GITLAB_TOKEN"):
        if env.get(name):
            build_args += f" --build-arg {name}={env[name]} "
    context_args = f" --build-context {o['build-context']}" if o.get("build-context") else ""
    if framework == "TRTLLM":
        commit = o.get("tensorrtllm-commit", "")
        wheel = o.get("tensorrtllm-pip-wheel", "")
        build_args += f" --build-arg GITHUB_TRTLLM_COMMIT={commit}"
        if o.get("use-default-experimental-tensorrtllm-commit") and (commit or wheel):
            out.append("ERROR: When using --use-default-experimental-trtllm-commit, do not set "
                       "--tensorrtllm-commit or --tensorrtllm-pip-wheel.")
            raise ScriptExit(1, out)
        kv = "1" if o.get("trtllm-use-nixl-kvcache-experimental") else "0"
        build_args += f" --build-arg TRTLLM_USE_NIXL_KVCACHE_EXPERIMENTAL={kv} "
        if not wheel and not commit and not o.get("use-default-experimental-tensorrtllm-commit"):
            wheel = TRTLLM_DEFAULT_PIP_WHEEL
        if not wheel:
            raise _error(out, "ERROR: building the TensorRT-LLM wheel from source (--tensorrtllm-commit) "
                              "runs build_trtllm_wheel.sh, which servedeck does not model; pass --tensorrtllm-pip-wheel")
        build_args += " --build-arg HAS_TRTLLM_CONTEXT=0"
        build_args += f" --build-arg TENSORRTLLM_PIP_WHEEL={wheel}"
        build_args += f" --build-arg TENSORRTLLM_INDEX_URL={o.get('tensorrtllm-index-url', TRTLLM_INDEX_URL)}"
        context_args += f" --build-context trtllm_wheel={TRTLLM_DUMMY_CONTEXT}"
    if env.get("HF_TOKEN"):
        build_args += f" --build-arg HF_TOKEN={env['HF_TOKEN']} "
    if o.get("release-build"):
        out.append("Performing a release build!")
        build_args += " --build-arg RELEASE_BUILD=true "
    enable_kvbm = bool(o.get("enable-kvbm"))
    if framework in ("VLLM", "TRTLLM"):
        out.append(f"Forcing enable_kvbm to true in {framework} image build")
        enable_kvbm = True
    if enable_kvbm:
        out.append("Enabling the KVBM in the ai-dynamo-runtime")
        build_args += " --build-arg ENABLE_KVBM=true "
    ucx = NIXL_UCX_EFA_REF if o.get("make-efa") else NIXL_UCX_REF
    build_args += f" --build-arg NIXL_UCX_REF={ucx} "
    if o.get("vllm-max-jobs"):
        build_args += f" --build-arg MAX_JOBS={o['vllm-max-jobs']} "
    if o.get("use-sccache"):
        build_args += (f" --build-arg USE_SCCACHE=true --build-arg SCCACHE_BUCKET={o['sccache-bucket']}"
                       f" --build-arg SCCACHE_REGION={o['sccache-region']}"
                       " --secret id=aws-key-id,env=AWS_ACCESS_KEY_ID --secret id=aws-secret-id,env=AWS_SECRET_ACCESS_KEY")
    latest = f"dynamo:latest-{fw}" + (f"-{target}" if target and target != "local-dev" else "")

    # show_image_options
    out += ["", f"Building Dynamo Image: '--tag {tag}'", "", f"   Base: '{base_image}'",
            f"   Base_Image_Tag: '{base_image_tag}'"]
    if framework == "TRTLLM":
        out.append(f"   Tensorrtllm_Pip_Wheel: '{o.get('tensorrtllm-pip-wheel', '')}'")
    out += [f"   Build Context: '{build_context}'", f"   Build Arguments: '{build_args}'",
            f"   Framework: '{framework}'"]
    if o.get("use-sccache"):
        out += ["   sccache: Enabled", f"   sccache Bucket: '{o['sccache-bucket']}'",
                f"   sccache Region: '{o['sccache-region']}'"]
        if env.get("SCCACHE_S3_KEY_PREFIX"):
            out.append(f"   sccache S3 Key Prefix: '{env['SCCACHE_S3_KEY_PREFIX']}'")
    out.append("")

    plan = BuildPlan(steps=list(out), dry_run=o["dry_run"], version=version, framework=fw, tokens=tokens)
    common = [f"--platform {platform}", build_args]
    cache = [f"--cache-from {o['cache-from']}" if o.get("cache-from") else "",
             f"--cache-to {o['cache-to']}" if o.get("cache-to") else ""]
    tail = [context_args, build_context, "--no-cache" if o.get("no-cache") else ""]

    def words(*parts: str) -> tuple[str, ...]:
        return tuple(" ".join(parts).split())  # bash word-splits the unquoted expansions

    if not dev_image:
        if framework != "NONE":
            dynamo_base = f"dynamo-base:{version}"
            plan.steps += [BAR, "Starting Build 1: Base Image", BAR]
            plan.steps.append(DockerBuild("base", words(f"-f {source_dir}/Dockerfile --target dev", *common, *cache,
                                                        f"--tag {dynamo_base}", *tail),
                                          fw, "dev", f"{base_image}:{base_image_tag}"))
            plan.steps += [BAR, "Starting Build 2: Framework Image", BAR]
            fw_args = build_args + f" --build-arg DYNAMO_BASE_IMAGE={dynamo_base}"
            plan.steps.append(DockerBuild("framework", words(f"-f {dockerfile} --target {target_str}",
                                                             f"--platform {platform}", fw_args, *cache,
                                                             f"--tag {tag} --tag {latest}", *tail),
                                          fw, target_str, dynamo_base))
        else:
            plan.steps.append(DockerBuild("framework", words(f"-f {dockerfile} --target {target_str}", *common,
                                                             *cache, f"--tag {tag} --tag {latest}", *tail),
                                          fw, target_str, f"{base_image}:{base_image_tag}"))

    user_uid = o.get("uid") or str(os.getuid() if uid is None else uid)
    user_gid = o.get("gid") or str(os.getgid() if gid is None else gid)
    if dev_image:
        if dev_image.endswith("-local-dev"):
            plan.failure = ScriptExit(1, [f"ERROR: Cannot use local-dev image as dev image input: '{dev_image}'"])
            return plan
        local_tag = f"{dev_image}-local-dev" if ":" in dev_image else f"{dev_image}:latest-local-dev"
        _local_dev(plan, source_dir, dev_image, [local_tag], f"Successfully built local-dev image: {local_tag}",
                   "Building Local-Dev Image", user_uid, user_gid, arch, fw, cwd)
    elif local_dev:
        dev = re.sub(r"-local-dev$", "", tag)
        tags = [f"{dev}-local-dev", f"{re.sub(r'-local-dev$', '', latest)}-local-dev"]
        _local_dev(plan, source_dir, dev, tags, "Successfully built local-dev images",
                   "Starting Build 3: Local-Dev Image", user_uid, user_gid, arch, fw, cwd)
    return plan


def _local_dev(plan: BuildPlan, source_dir: Path, dev_base: str, tags: list[str], success: str, title: str,
               uid: str, gid: str, arch: str, fw: str, cwd) -> None:
    """build_local_dev_with_header: the header, the build, then how to run the image."""
    plan.steps += [BAR, title, BAR]
    dockerfile = source_dir / "Dockerfile.local_dev"
    if not dockerfile.is_file():
        plan.failure = ScriptExit(1, [f"ERROR: Dockerfile.local_dev not found at: {dockerfile}"])
        return
    plan.steps += [f"Building new local-dev image from: {dev_base}", f"User 'ubuntu' will have UID: {uid}, GID: {gid}"]
    tag_words = " ".join(f"--tag {t}" for t in tags)
    words = tuple(f"--build-arg DEV_BASE={dev_base} --build-arg USER_UID={uid} --build-arg USER_GID={gid} "
                  f"--build-arg ARCH={arch} --file {dockerfile} {tag_words} {source_dir}".split())
    plan.steps.append(DockerBuild("local-dev", words, fw, "local-dev", dev_base))
    run_path = os.path.relpath(source_dir / "run.sh", str(cwd or os.getcwd()))
    plan.steps += [success, "", f"To run the local-dev image as the local user ({uid}/{gid}):",
                   f"  {run_path} --image {tags[-1]} --mount-workspace ..."]
