"""A faithful model of Dynamo's `container/run.sh` (v0.6.0 era, see notes/dynamo.md).

`plan_run(argv, repo)` parses run.sh's flags as its get_options loop does and returns a
`RunPlan`: the `docker run` word list the script would execute (its dry-run line) and the
same container described for the Docker SDK (`create_kwargs`), so the GPU request, mounts,
env and ulimits of a real run are exactly the ones the line names.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from servedeck.backends.dynamo.buildsh import DRY_RUN_BANNER, FRAMEWORKS, ScriptExit, mask_tokens

DEFAULT_FRAMEWORK = "VLLM"
FIXED_FLAGS = ("--shm-size=10G", "--ulimit", "memlock=-1", "--ulimit", "stack=67108864",
               "--ulimit", "nofile=65536:65536")
VALUE_FLAGS = {"--framework": "framework", "--image": "image", "--target": "target", "--name": "name",
               "--hf-cache": "hf_cache", "--gpus": "gpus", "--entrypoint": "entrypoint",
               "--privileged": "privileged", "--rm": "rm", "--workdir": "workdir", "--runtime": "runtime",
               "--network": "network"}
MULTI_FLAGS = {"-v": "volumes", "-e": "env", "-p": "ports"}

HELP = """usage: run.sh
  [--image image]
  [--framework framework one of VLLM TRTLLM NONE SGLANG]
  [--target target stage to use, default is dev]
  [--name name for launched container, default NONE]
  [--privileged whether to launch in privileged mode, default FALSE unless mounting workspace]
  [--dry-run print docker commands without running]
  [--hf-cache directory to volume mount as the hf cache, default is NONE unless mounting workspace]
  [--gpus gpus to enable, default is 'all', 'none' disables gpu support]
  [--runtime add runtime variables]
  [--entrypoint override container entrypoint]
  [--workdir set the working directory inside the container]
  [--network network mode for the container, default is 'host']
  [--use-nixl-gds add volume mounts and capabilities needed for NVIDIA GPUDirect Storage]
  [-v add volume mount]
  [-e add environment variable]
  [-p add port mapping]
  [-it run container in interactive mode]
  [--mount-workspace set up for local development]
  [-- stop processing and pass remaining args as command to docker run]"""


@dataclass
class RunPlan:
    words: list[str]  # after `docker run`
    lines: list[str] = field(default_factory=list)  # what the script prints before the command
    dry_run: bool = False
    image: str = ""
    command: list[str] = field(default_factory=list)
    gpus: str = "all"
    runtime: str = ""
    network: str = "host"
    workdir: str = "/workspace"
    name: str = ""
    entrypoint: str = ""
    privileged: bool = False
    remove: bool = True
    interactive: bool = False
    env: list[str] = field(default_factory=list)  # -e words: K=V, or K (taken from the environment)
    volumes: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return ["docker", "run", *self.words]

    def line(self) -> str:
        return mask_tokens(" ".join(self.argv))

    def render(self) -> list[str]:
        return [mask_tokens(s) for s in self.lines] + [self.line()]

    def create_kwargs(self, environ: Mapping[str, str] | None = None,
                      caps: Mapping[str, int] | None = None) -> dict[str, Any]:
        """The same container for `APIClient.create_container` + `create_host_config`
        (`caps`: lower ulimits for an engine that may not raise run.sh's)."""
        from docker.types import DeviceRequest, Ulimit

        environ = os.environ if environ is None else environ
        env = {}
        for item in self.env:
            key, sep, value = item.partition("=")
            if sep:
                env[key] = value
            elif key in environ:
                env[key] = environ[key]
        binds = []
        for v in self.volumes:
            src, _, rest = v.partition(":")
            binds.append(f"{os.path.abspath(src) if src.startswith(('.', '/')) else src}:{rest}")
        host: dict[str, Any] = {
            "binds": binds, "network_mode": self.network, "shm_size": "10G", "ipc_mode": "host",
            "cap_add": list(self.cap_add), "privileged": self.privileged, "auto_remove": self.remove,
            "ulimits": [Ulimit(name=n, soft=v, hard=v) for n, v in ulimits(caps).items()],
        }
        if self.runtime:
            host["runtime"] = self.runtime
        if self.gpus:
            host["device_requests"] = [gpu_request(self.gpus)]
        ports: dict[str, Any] = {}
        for p in self.ports:
            parts = p.split(":")
            inner = parts[-1] if "/" in parts[-1] else parts[-1] + "/tcp"
            ports[inner] = (parts[0], int(parts[1])) if len(parts) == 3 else (int(parts[0]) if len(parts) == 2 else None)
        if ports:
            host["port_bindings"] = ports
        container: dict[str, Any] = {"image": self.image, "command": self.command or None, "environment": env,
                                     "working_dir": self.workdir, "tty": self.interactive,
                                     "stdin_open": self.interactive}
        if ports:
            container["ports"] = list(ports)
        if self.name:
            container["name"] = self.name
        if self.entrypoint:
            container["entrypoint"] = self.entrypoint
        return {"container": container, "host": host, "device_request_cls": DeviceRequest}


RUN_SH_ULIMITS = {"memlock": -1, "stack": 67108864, "nofile": 65536}


def ulimits(caps: Mapping[str, int] | None) -> dict[str, int]:
    """run.sh's ulimits, each lowered to its cap when one is given (-1 is unlimited)."""
    out = {}
    for name, value in RUN_SH_ULIMITS.items():
        cap = (caps or {}).get(name)
        out[name] = value if cap is None or cap == -1 else (cap if value == -1 else min(value, cap))
    return out


def gpu_request(gpus: str):
    """`--gpus all|N|device=0,1` as the docker CLI turns it into a DeviceRequest."""
    from docker.types import DeviceRequest

    text = gpus.strip('"')
    if text == "all":
        return DeviceRequest(driver="", count=-1, capabilities=[["gpu"]])
    if text.isdigit():
        return DeviceRequest(driver="", count=int(text), capabilities=[["gpu"]])
    ids = text.split("=", 1)[1] if text.startswith("device=") else text
    return DeviceRequest(driver="", device_ids=ids.split(","), capabilities=[["gpu"]])


def _error(lines: list[str], first: str, second: str = "") -> ScriptExit:
    return ScriptExit(1, lines, f"{first} {second}\n")


def plan_run(argv: Sequence[str], repo: Path | str, env: Mapping[str, str] | None = None) -> RunPlan:
    env = os.environ if env is None else env
    source_dir = (Path(repo) / "container").resolve()
    o: dict[str, Any] = {"volumes": [], "env": [], "ports": []}
    lines: list[str] = []
    args = list(argv)
    dry = interactive = mount_workspace = nixl_gds = False
    rest: list[str] = []
    i = 0
    while i < len(args):
        flag = args[i]
        if flag in ("-h", "-?", "--help"):
            raise ScriptExit(0, lines + HELP.splitlines())
        if flag in VALUE_FLAGS or flag in MULTI_FLAGS:
            value = args[i + 1] if i + 1 < len(args) else ""
            if not value:
                raise _error(lines, f"ERROR: {flag} requires an argument.")
            if flag in MULTI_FLAGS:
                o[MULTI_FLAGS[flag]].append(value)
            else:
                o[VALUE_FLAGS[flag]] = value
            i += 2
            continue
        if flag == "-it":
            interactive = True
        elif flag == "--mount-workspace":
            mount_workspace = True
        elif flag == "--use-nixl-gds":
            nixl_gds = True
        elif flag == "--dry-run":
            dry = True
            lines.extend(DRY_RUN_BANNER)
        elif flag == "--":
            rest = args[i + 1:]
            break
        elif flag == "":
            rest = args[i:]
            break
        else:
            raise _error(lines, "ERROR: Unknown option: ", flag)
        i += 1

    framework = (o.get("framework") or DEFAULT_FRAMEWORK).upper()
    if framework not in FRAMEWORKS:
        raise _error(lines, "ERROR: Unknown framework: ", framework)
    image = o.get("image") or f"dynamo:latest-{framework.lower()}" + (f"-{o['target']}" if o.get("target") else "")
    gpus = o.get("gpus", "all")
    gpu_words = [] if gpus.upper() == "NONE" else ["--gpus", gpus]
    runtime = o.get("runtime") or ("" if gpus == "none" else "nvidia")
    volumes = list(o["volumes"])
    env_words = list(o["env"])
    privileged = o.get("privileged", "")
    hf_cache = o.get("hf_cache") or env.get("HF_HOME", "")
    if mount_workspace:
        volumes += [f"{source_dir}/..:/workspace", "/tmp:/tmp", "/mnt/:/mnt"]
        hf_cache = hf_cache or f"{source_dir}/.cache/huggingface"
        privileged = privileged or "TRUE"
        env_words.append("HF_TOKEN")
        interactive = True
    cap_add = ["CAP_SYS_PTRACE"]
    if nixl_gds:
        volumes.append("/run/udev:/run/udev:ro")
        cap_add.append("IPC_LOCK")
        if not mount_workspace:
            volumes.append("/tmp:/tmp")
    if hf_cache.upper() == "NONE":
        hf_cache = ""
    if hf_cache:
        Path(hf_cache).mkdir(parents=True, exist_ok=True)  # the script's `mkdir -p $HF_CACHE`
        home = "/home/ubuntu" if "local-dev" in image else "/root"
        volumes.append(f"{hf_cache}:{home}/.cache/huggingface")
    privileged_on = (privileged or "FALSE").upper() != "FALSE"
    remove = (o.get("rm") or "TRUE").upper() != "FALSE"
    network = o.get("network", "host")
    workdir = o.get("workdir", "/workspace")

    words = [*gpu_words, *(["-it"] if interactive else []), *(["--rm"] if remove else []), "--network", network,
             *(["--runtime", runtime] if runtime else []), *FIXED_FLAGS]
    for e in env_words:
        words += ["-e", *e.split()]
    for v in volumes:
        words += ["-v", *v.split()]
    for p in o["ports"]:
        words += ["-p", *p.split()]
    words += ["-w", workdir, "--cap-add", "CAP_SYS_PTRACE"]
    if nixl_gds:
        words += ["--cap-add=IPC_LOCK"]
    words += ["--ipc", "host"]
    if privileged_on:
        words.append("--privileged")
    if o.get("name"):
        words += ["--name", o["name"]]
    if o.get("entrypoint"):
        words += ["--entrypoint", o["entrypoint"]]
    words.append(image)
    words += rest
    return RunPlan(words=words, lines=lines, dry_run=dry, image=image, command=rest, gpus="" if not gpu_words else gpus,
                   runtime=runtime, network=network, workdir=workdir, name=o.get("name", ""),
                   entrypoint=o.get("entrypoint", ""), privileged=privileged_on, remove=remove,
                   interactive=interactive, env=env_words, volumes=volumes, ports=list(o["ports"]), cap_add=cap_add)


def split_flags(text: str) -> list[str]:
    """The run.sh flags an operator typed in the cockpit's prompt."""
    return shlex.split(text or "")
