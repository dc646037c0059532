"""What every deployment mode shares: the deployment handle, its failures, the warm-up.

A deployer (Docker, OME) has `start(task, exp_id, params, port, gpus) -> Deployment`,
`wait_healthy(deployment, timeout_s, stop)`, `log_tail(name)`, `remove(name)` and,
optionally, `containers(task_name)` for the sweep of strays after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx


class ServerFailed(Exception):
    """The server did not come up (or died); `log_tail` says why in its own words."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class Stopped(Exception):
    """The operator stopped the tuner while this experiment ran (it stays resumable)."""


@dataclass
class Deployment:
    name: str
    port: int
    gpus: list[int]
    container_id: str = ""
    url: str = ""  # where the server answers when it is not on a local port (OME: status.url)

    @property
    def base_url(self) -> str:
        return self.url or f"http://127.0.0.1:{self.port}"


def warm_up(base_url: str, model_name: str, count: int) -> None:
    """The real tool's warm-up: a few short /v1/completions requests (failures ignored)."""
    with httpx.Client(timeout=60.0) as http:
        for _ in range(count):
            try:
                http.post(base_url + "/v1/completions", json={"model": model_name, "prompt": "warm up", "max_tokens": 4})
            except httpx.HTTPError:
                pass
