"""Where and how the tuner runs experiments: the `tuner:` section of servedeck's config.

Everything has a default that matches the real tool (Docker socket, ports 8000-8100, the
lmsysorg/sglang image, GPUs by free memory through nvidia-smi). The lab and the tests
point it at the stand-in image and a stand-in GPU pool, and shift the port range.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servedeck.config.errors import ConfigError, Problem

IMAGES = {"sglang": "lmsysorg/sglang:v0.5.2-cu126", "vllm": "vllm/vllm-openai:latest"}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GPUSettings(Section):
    request: Literal["device", "env"] = Field(
        default="device", description="device: Docker DeviceRequest (nvidia); env: CUDA_VISIBLE_DEVICES only (stand-in GPUs).")
    standin_count: int | None = Field(default=None, ge=0, le=64,
                                      description="A stand-in pool of this many GPUs instead of nvidia-smi.")
    standin_memory_mib: int = Field(default=81920, ge=1)
    per_experiment: int | None = Field(default=None, ge=0, le=64,
                                       description="GPUs per experiment (default: the tp-size parameter, else 1).")


class BenchmarkSettings(Section):
    runner: Literal["auto", "builtin", "genai-bench", "benchmarkjob"] = Field(
        default="auto", description="auto: genai-bench when installed, else built-in; benchmarkjob: OME's (--mode ome).")
    genai_bench: str | None = Field(default=None, description="genai-bench executable (default: on PATH).")
    tokenizer_dir: str | None = Field(default=None, description="Local tokenizer directory for genai-bench (offline).")
    warmup_requests: int = Field(default=3, ge=0, le=100)


class TunerSettings(Section):
    docker_url: str = "unix:///var/run/docker.sock"
    image: str | None = Field(default=None, description="Server image (default: by base_runtime and runtime_image_tag).")
    build_standin_image: bool = Field(
        default=False, description="Build `image` as the stand-in SGLang image when missing or stale (lab, tests).")
    command: list[str] = Field(default_factory=lambda: ["python3", "-m", "sglang.launch_server"])
    model_path: str = Field(default="/mnt/data/models", description="Host folder holding <model id> folders.")
    mount_model: bool = Field(default=True, description="Mount <model_path>/<id> read-only at /model when it exists.")
    port_range: tuple[int, int] = (8000, 8100)
    health_poll_s: float = Field(default=5.0, gt=0, le=60)
    gpus: GPUSettings = Field(default_factory=GPUSettings)
    benchmark: BenchmarkSettings = Field(default_factory=BenchmarkSettings)
    state_dir: str = "~/.local/state/servedeck/tuner"
    results_dir: str = "results"
    container_prefix: str | None = Field(default=None, description="Put before <namespace>-<task>-exp<N> (tests).")
    kubeconfig: str | None = None
    log_tail_lines: int = Field(default=100, ge=1, le=10_000)

    @model_validator(mode="after")
    def _ports(self) -> "TunerSettings":
        lo, hi = self.port_range
        if not 1 <= lo <= hi <= 65535:
            raise ValueError("port_range must be [low, high] within 1-65535")
        return self

    def state_path(self) -> Path:
        return Path(os.path.expanduser(self.state_dir))

    def socket_path(self) -> Path:
        return self.state_path() / "tuner.sock"

    def results_path(self) -> Path:
        return Path(os.path.expanduser(self.results_dir))


def load(path: Path | None) -> TunerSettings:
    """The `tuner:` section of a servedeck config file (defaults without one). The caller
    resolves the path (servedeck.config.loader.resolve_path), which keeps this module out
    of the loader's imports (the loader checks `tuner:` with TunerSettings)."""
    from servedeck.config.document import load_model

    if path is None:
        return TunerSettings()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read config: {exc.strerror or exc}")]) from None
    doc, _ = load_model(text, str(path), _Wrapper, keys=("tuner",))
    return doc.tuner


class _Wrapper(Section):
    tuner: TunerSettings = Field(default_factory=TunerSettings)
