"""The autotuner's task file: the real tool's JSON format (and the same as YAML), checked.

Accepted as the real tool writes it: parameters as value lists (`{"tp-size": [1, 2]}`) or
the legacy `{"tp_size": {"type": "choice", "values": [1]}}` form (plus `continuous` and
`integer` ranges for Bayesian search), `model.id_or_path` or the older `model.name`, and
the later keys (`slo`, `runtime_image_tag`, strategy options, storage/quant configs).
Every value that becomes a server flag or a container name is checked here, so a bad or
hostile task is a located FILE:LINE:COL error before anything runs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError, field_validator, model_validator

from servedeck.config.errors import ConfigError, Problem

FLAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# One argv word that any server parses literally: no spaces, quotes, $, ;, |, &, <, >, `, (, ).
FLAG_VALUE = re.compile(r"^[A-Za-z0-9_.:/+=@,%-]{1,256}$")
TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
SCENARIO = re.compile(r"^(D\(\d+,\d+\)|[NU]\(\d+(\.\d+)?,\d+(\.\d+)?\)/\(\d+(\.\d+)?,\d+(\.\d+)?\))$")
MAX_EXPERIMENTS = 10_000
MAX_GRID = 1_000_000  # combinations a grid may describe before max_iterations cuts it
# Legacy parameter names of the OME examples -> SGLang flags.
FLAG_ALIASES = {"mem_frac": "mem-fraction-static"}

Scalar = Union[StrictBool, StrictInt, StrictFloat, str]


def _flag_name(name: str) -> str:
    if not FLAG_NAME.match(name):
        raise ValueError(f"parameter name {name[:40]!r} is not a server flag name (letters, digits, _ and -)")
    return name


def _flag_value(value: Any, where: str) -> Any:
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: values must be finite numbers")
        return value
    if isinstance(value, str):
        if not FLAG_VALUE.match(value):
            raise ValueError(f"{where}: value {value[:40]!r} has characters a server flag may not hold "
                             "(spaces, quotes, $;|&<>`() ...)")
        return value
    raise ValueError(f"{where}: values must be numbers, true/false or strings, not {type(value).__name__}")


def _param_spec(value: Any) -> Any:
    """A value list, or {type: choice|continuous|integer, ...}: one clear message per problem."""
    if isinstance(value, list):
        if not value:
            raise ValueError("a parameter needs at least one value")
        return [_flag_value(v, f"item {i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        kind = value.get("type")
        model = {"choice": ChoiceSpec, "categorical": ChoiceSpec, "continuous": ContinuousSpec, "float": ContinuousSpec,
                 "integer": IntegerSpec, "int": IntegerSpec}.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise ValueError("type must be choice, continuous or integer")
        try:
            spec = model.model_validate(value)
        except ValidationError as exc:
            err = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"{where}: {err['msg']}" if where else err["msg"]) from None
        if isinstance(spec, ChoiceSpec):
            for i, v in enumerate(spec.values):
                _flag_value(v, f"values item {i}")
        return spec
    raise ValueError("a parameter is a list of values or {type: choice, values: [...]}")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(Section):
    id_or_path: str | None = None
    name: str | None = Field(default=None, description="The older spelling of id_or_path.")
    namespace: str = "autotuner"

    @model_validator(mode="after")
    def _one_name(self) -> "ModelRef":
        if not (self.id_or_path or self.name):
            raise ValueError("model needs id_or_path (or the older name)")
        for value in (self.id_or_path, self.name):
            if value is not None and not FLAG_VALUE.match(value):
                raise ValueError("model id_or_path may only hold letters, digits and _.:/+=@,%-")
        if not TASK_NAME.match(self.namespace):
            raise ValueError("model.namespace must be a DNS-like name")
        return self

    @property
    def ident(self) -> str:
        return self.id_or_path or self.name or ""


class ChoiceSpec(Section):
    type: Literal["choice", "categorical"]
    values: list[Scalar] = Field(min_length=1)


class ContinuousSpec(Section):
    type: Literal["continuous", "float"]
    low: StrictFloat | StrictInt
    high: StrictFloat | StrictInt
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> "ContinuousSpec":
        if not self.low < self.high:
            raise ValueError("low must be below high")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class IntegerSpec(Section):
    type: Literal["integer", "int"]
    low: StrictInt
    high: StrictInt
    step: StrictInt = 1

    @model_validator(mode="after")
    def _range(self) -> "IntegerSpec":
        if not self.low <= self.high or self.step < 1:
            raise ValueError("low must not exceed high, and step must be >= 1")
        return self


ParamSpec = Annotated[Any, AfterValidator(_param_spec)]
FlagName = Annotated[str, AfterValidator(_flag_name)]


class SLOLimit(Section):
    threshold: StrictFloat | StrictInt = Field(gt=0)
    weight: StrictFloat | StrictInt = Field(default=1.0, ge=0)
    hard_fail: bool = False
    fail_ratio: StrictFloat | StrictInt = Field(default=0.2, ge=0)


class PercentileSLO(Section):
    p50: SLOLimit | None = None
    p90: SLOLimit | None = None
    p99: SLOLimit | None = None


class SLO(Section):
    latency: PercentileSLO | SLOLimit | None = None
    ttft: PercentileSLO | SLOLimit | None = None
    tpot: PercentileSLO | SLOLimit | None = None
    steepness: StrictFloat | StrictInt = Field(default=0.1, gt=0)


Strategy = Literal["grid_search", "grid", "random", "random_search", "bayesian"]
Objective = Literal["minimize_latency", "maximize_throughput", "minimize_ttft", "minimize_tpot"]


class Optimization(Section):
    strategy: Strategy = "grid_search"
    objective: Objective = "minimize_latency"
    max_iterations: StrictInt | None = Field(default=None, ge=1, le=MAX_EXPERIMENTS)
    timeout_per_iteration: StrictInt | StrictFloat = Field(default=600, gt=0, le=86_400)
    n_initial_random: StrictInt = Field(default=5, ge=0, le=MAX_EXPERIMENTS)
    study_name: str | None = None
    storage: str | None = Field(default=None, description="Optuna storage URL (kept; the study lives in the state file).")
    seed: StrictInt | None = None

    @property
    def kind(self) -> str:
        return {"grid": "grid_search", "random_search": "random"}.get(self.strategy, self.strategy)


class Benchmark(Section):
    task: Literal["text-to-text"] = "text-to-text"
    model_name: str | None = None
    model_tokenizer: str | None = None
    traffic_scenarios: list[str] = Field(default_factory=lambda: ["D(100,100)"], min_length=1, max_length=32)
    num_concurrency: list[StrictInt] = Field(default_factory=lambda: [1], min_length=1, max_length=32)
    max_time_per_iteration: StrictInt | StrictFloat = Field(default=10, gt=0, le=1440,
                                                            description="Minutes per run, as genai-bench counts them.")
    max_requests_per_iteration: StrictInt = Field(default=50, ge=1, le=1_000_000)
    additional_params: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("traffic_scenarios")
    @classmethod
    def _scenarios(cls, value: list[str]) -> list[str]:
        for item in value:
            if not SCENARIO.match(item.replace(" ", "")):
                raise ValueError(f"traffic scenario {item[:40]!r} is not D(in,out), N(m,s)/(m,s) or U(lo,hi)/(lo,hi)")
        return [v.replace(" ", "") for v in value]

    @field_validator("num_concurrency")
    @classmethod
    def _concurrency(cls, value: list[int]) -> list[int]:
        if any(c < 1 or c > 4096 for c in value):
            raise ValueError("concurrency levels must be between 1 and 4096")
        return value


class Task(Section):
    task_name: str
    description: str = ""
    deployment_mode: Literal["docker", "ome"] = "docker"  # informational, --mode decides
    model: ModelRef
    base_runtime: Literal["sglang", "vllm"] = "sglang"
    runtime_image_tag: str | None = None
    parameters: dict[FlagName, ParamSpec] = Field(min_length=1)
    optimization: Optimization = Field(default_factory=Optimization)
    benchmark: Benchmark = Field(default_factory=Benchmark)
    slo: SLO | None = None
    # Later keys of the real tool, kept as given (OME mode reads storage).
    parallel_config: dict[str, Any] | None = None
    quant_config: dict[str, Any] | None = None
    storage: dict[str, Any] | None = None
    clusterbasemodel_config: dict[str, Any] | None = None
    clusterservingruntime_config: dict[str, Any] | None = None

    @field_validator("task_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TASK_NAME.match(value):
            raise ValueError("task_name may only hold letters, digits and ._- (it names containers and files)")
        return value

    @field_validator("runtime_image_tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", value):
            raise ValueError("runtime_image_tag is not a valid image tag")
        return value

    @model_validator(mode="after")
    def _grid_bounds(self) -> "Task":
        discrete = all(not isinstance(s, (ContinuousSpec, IntegerSpec)) for s in self.parameters.values())
        if self.optimization.kind == "grid_search":
            if not discrete:
                raise ValueError("grid_search needs value lists; continuous/integer ranges need strategy bayesian")
            size = grid_size(self)
            if self.optimization.max_iterations is None and size > MAX_EXPERIMENTS:
                raise ValueError(f"the grid has {size} combinations (over {MAX_EXPERIMENTS}): "
                                 "set optimization.max_iterations or narrow the parameters")
            if size > MAX_GRID:
                raise ValueError(f"the grid has {size} combinations (over {MAX_GRID}): narrow the parameters")
        return self

    def flag(self, name: str) -> str:
        """The server flag a parameter becomes (`tp_size` -> `tp-size`, `mem_frac` -> `mem-fraction-static`)."""
        return FLAG_ALIASES.get(name, name.replace("_", "-"))


def values_of(spec: Any) -> list[Any]:
    return list(spec) if isinstance(spec, list) else list(getattr(spec, "values", []))


def grid_size(task: Task) -> int:
    size = 1
    for spec in task.parameters.values():
        size *= max(1, len(values_of(spec)))
    return size


def load_task(path: str | Path) -> Task:
    """A JSON or YAML task file -> Task, or ConfigError with FILE:LINE:COL problems."""

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read task file: {getattr(exc, 'strerror', None) or exc}")]) from None
    return load_task_text(text, str(path))


def load_task_text(text: str, source: str) -> Task:
    from servedeck.config.document import load_model

    if source.endswith(".json"):
        # JSON is YAML, but YAML refuses tab indentation; tabs outside strings are only
        # whitespace in JSON (inside strings they are escaped), so columns stay right.
        text = text.replace("\t", " ")
    task, _marks = load_model(text, source, Task)
    return task
