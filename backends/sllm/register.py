"""`POST /register` bodies from what an operator typed (the prompt or the verb's flags).

The head at 28fffaf takes `{model, backend, backend_config{tensor_parallel_size, ...},
auto_scaling_config{min_instances, max_instances, target_ongoing_requests,
keep_alive_seconds}}` and names the model `<model>:<backend>`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

PROMPT = "model [backend=vllm] [min=0] [max=1] [keep_alive=0] [tp=1]"

_KEYS = {
    "backend": "backend", "min": "min_instances", "min_instances": "min_instances",
    "max": "max_instances", "max_instances": "max_instances", "keep_alive": "keep_alive_seconds",
    "keep-alive": "keep_alive_seconds", "keep_alive_seconds": "keep_alive_seconds",
    "tp": "tensor_parallel_size", "tensor_parallel_size": "tensor_parallel_size",
}


class RegisterInputError(ValueError):
    pass


@dataclass(frozen=True)
class Registration:
    model: str
    backend: str = "vllm"
    min_instances: int = 0
    max_instances: int = 1
    keep_alive_seconds: int = 0
    tensor_parallel_size: int = 1

    @property
    def model_id(self) -> str:
        return f"{self.model}:{self.backend}"

    def body(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "backend": self.backend,
            "backend_config": {"tensor_parallel_size": self.tensor_parallel_size},
            "auto_scaling_config": {"min_instances": self.min_instances, "max_instances": self.max_instances,
                                    "keep_alive_seconds": self.keep_alive_seconds},
        }

    def check(self) -> "Registration":
        if not self.model or self.model.startswith("-"):
            raise RegisterInputError("a model name is needed, e.g. facebook/opt-125m")
        if self.min_instances < 0 or self.max_instances < 1 or self.min_instances > self.max_instances:
            raise RegisterInputError(f"need 0 <= min ({self.min_instances}) <= max ({self.max_instances}) and max >= 1")
        if self.tensor_parallel_size < 1 or self.keep_alive_seconds < 0:
            raise RegisterInputError("tp must be >= 1 and keep_alive >= 0")
        return self


def parse_prompt(text: str) -> Registration:
    """'facebook/opt-125m backend=vllm max=2 tp=1' -> Registration (RegisterInputError on bad input)."""
    try:
        words = shlex.split(text or "")
    except ValueError as exc:
        raise RegisterInputError(str(exc)) from None
    if not words:
        raise RegisterInputError(f"type {PROMPT}")
    values: dict[str, Any] = {"model": words[0]}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        field = _KEYS.get(key.strip().lower())
        if not sep or field is None:
            raise RegisterInputError(f"{word!r}: expected one of backend=, min=, max=, keep_alive=, tp=")
        if field == "backend":
            values[field] = value
            continue
        try:
            values[field] = int(value)
        except ValueError:
            raise RegisterInputError(f"{key}={value!r} is not a whole number") from None
    return Registration(**values).check()
