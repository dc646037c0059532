"""Settings of a `runs` target: the helper container (seed 000) and where its runs land.

Shared by the `runs` backend and `servedeck container ...`, so the cockpit's keys and
the CLI verbs launch exactly the same container.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator

from servedeck.backends.base import BackendSettings

# The seed's launch command, as an argument template ({model} and {port} are filled in).
SEED_SERVE_TEMPLATE = (
    "python", "-m", "sglang.launch_server",
    "--model-path", "{model}",
    "--context-length", "32768",
    "--max-running-requests", "1",
    "--max-total-tokens", "32768",
    "--host", "0.0.0.0", "--port", "{port}",
    "--enable-metrics",
    "--tp-size", "1",
    "--trust-remote-code",
)


class RunsSettings(BackendSettings):
    docker_url: str = Field(default="unix:///var/run/docker.sock",
                            description="Docker Engine that runs the helper container.")
    container: str = Field(default="sglang-dev", description="Name of the helper container.")
    image: str = Field(default="sglang-dev-helper:latest",
                       description="Helper image (built from servedeck/helper/Dockerfile).")
    base_image: str = Field(default="lmsysorg/sglang:latest",
                            description="SGLang image the helper image is built on.")
    storage_root: str = Field(default="~/sglang-observability",
                              description="Host root of models/, profiles/ and telemetry/ (the seed's layout).")
    host_manifest_root: str | None = Field(
        default=None,
        description="Host directory of the run manifests (default STORAGE_ROOT/telemetry/container_runs); "
                    "the HOST_MANIFEST_ROOT environment variable overrides it.")
    mounts: list[str] = Field(default_factory=list,
                              description="Extra bind mounts HOST:CONTAINER[:ro] (e.g. your SGLang checkout "
                                          "at /workspaces/sglang).")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment of the container.")
    init_hook: str = Field(default="", description="INIT_RUN_HOOK run as the user before the payload "
                                                   "(the seed: /workspaces/sglang/.devcontainer/post-create.sh).")
    user: str = Field(default="devuser", description="Unprivileged user of the hook, payload and server.")
    payload: list[str] = Field(default_factory=lambda: ["sleep", "infinity"],
                               description="The container's payload after the init.")
    gpus: bool = Field(default=False, description="Request every GPU (docker run --gpus all).")
    cap_add: list[str] = Field(default_factory=list, description="Extra capabilities (e.g. SYS_ADMIN for DCGM profiling).")
    start_timeout: float = Field(default=900.0, gt=0, description="Seconds `start` waits for the manifest pointer.")
    heartbeat: float = Field(default=5.0, gt=0, description="Seconds between `Container starting...` lines.")
    serve_template: list[str] = Field(default_factory=lambda: list(SEED_SERVE_TEMPLATE),
                                      description="Command that launches SGLang; {model} and {port} are filled in.")
    serve_model: str = Field(default="/models/Qwen/Qwen3-Next-80B-A3B-Thinking-FP8",
                             description="Value of {model} in serve_template.")
    serve_port: int = Field(default=30000, description="Value of {port} in serve_template.")
    serve_shell: list[str] = Field(default_factory=lambda: ["sh", "-lc"],
                                   description="Shell that runs the server command inside the container.")
    history: int = Field(default=200, ge=1, description="How many past runs the pane lists (newest first).")

    @field_validator("mounts")
    @classmethod
    def _mounts_are_host_colon_container(cls, mounts: list[str]) -> list[str]:
        for spec in mounts:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or not parts[0] or not parts[1].startswith("/") or \
                    (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                raise ValueError(f"mount {spec!r} is not HOST:/CONTAINER[:ro|rw]")
        return mounts

    @field_validator("serve_template")
    @classmethod
    def _template_placeholders_are_known(cls, template: list[str]) -> list[str]:
        for arg in template:
            try:
                arg.format(model="m", port=1)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"argument {arg!r}: unknown placeholder {exc} (only {{model}} and {{port}})") from None
        if not template:
            raise ValueError("the template is empty")
        return template

    @property
    def root(self) -> Path:
        return Path(os.path.expanduser(self.storage_root)).absolute()

    @property
    def telemetry(self) -> Path:
        return self.root / "telemetry"

    @property
    def manifest_root(self) -> Path:
        override = os.environ.get("HOST_MANIFEST_ROOT") or self.host_manifest_root
        return Path(os.path.expanduser(override)).absolute() if override else self.telemetry / "container_runs"

    @property
    def pointer_file(self) -> Path:
        return self.telemetry / "container_run_meta.env"

    def host_log(self, container_log_file: str) -> Path:
        """The host path of a run log the manifest names by its container path."""
        prefix = "/telemetry/"
        if ".." in Path(container_log_file).parts or "\x00" in container_log_file:
            raise ValueError("a log path with '..' or NUL could point outside the telemetry root")
        if container_log_file.startswith(prefix):
            return self.telemetry / container_log_file[len(prefix):]
        return Path(container_log_file)
