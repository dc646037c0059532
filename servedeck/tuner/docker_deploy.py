"""Docker mode: one server container per experiment, as the real tool runs it.

Named `<namespace>-<task>-exp<N>` (sanitized to [a-z0-9-._]; an old one of that name is
force-removed first), host networking on the first free port of the range with
`--port PORT`, parameters as `--flag value` (true booleans bare, false dropped), GPUs by
DeviceRequest (or CUDA_VISIBLE_DEVICES for stand-in GPUs), the model folder mounted
read-only at /model. Health: the container must not exit and `/health` must answer 200
within the task's timeout; a failure carries the server's log tail.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from servedeck.text import strip_control
from servedeck.tuner.deploy import Deployment, ServerFailed, Stopped
from servedeck.tuner.settings import IMAGES, TunerSettings
from servedeck.tuner.task import Task

LABEL = "servedeck.tuner.task"


def container_name(settings: TunerSettings, task: Task, exp_id: int) -> str:
    name = f"{task.model.namespace}-{task.task_name}-exp{exp_id}"
    if settings.container_prefix:
        name = f"{settings.container_prefix}-{name}"
    return re.sub(r"[^a-z0-9._-]", "-", name.lower())


def image_for(settings: TunerSettings, task: Task) -> str:
    if settings.image:
        return settings.image
    image = IMAGES[task.base_runtime]
    if task.runtime_image_tag:
        image = image.rsplit(":", 1)[0] + ":" + task.runtime_image_tag
    return image


def flags(task: Task, params: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name, value in params.items():
        flag = "--" + task.flag(name)
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        else:
            out += [flag, str(value)]
    return out


def server_command(settings: TunerSettings, task: Task, params: dict[str, Any], port: int) -> list[str]:
    return [*settings.command, "--model-path", "/model" if _model_dir(settings, task) else task.model.ident,
            "--host", "0.0.0.0", "--port", str(port), *flags(task, params)]


def _model_dir(settings: TunerSettings, task: Task) -> Path | None:
    path = Path(settings.model_path) / task.model.ident
    return path if settings.mount_model and path.is_dir() else None


class DockerDeployer:
    def __init__(self, settings: TunerSettings) -> None:
        import docker

        self.settings = settings
        self.client = docker.DockerClient(base_url=settings.docker_url, timeout=60)

    def name_for(self, task: Task, exp_id: int) -> str:
        return container_name(self.settings, task, exp_id)

    def remove(self, name: str) -> bool:
        """Stop (10 s) and remove the container of that name; True if there was one."""
        import docker.errors

        try:
            container = self.client.containers.get(name)
        except docker.errors.NotFound:
            return False
        try:
            if container.status == "running":
                container.stop(timeout=10)
        except docker.errors.APIError:
            pass
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        return True

    def start(self, task: Task, exp_id: int, params: dict[str, Any], port: int, gpus: list[int]) -> Deployment:
        from docker.types import DeviceRequest

        name = container_name(self.settings, task, exp_id)
        self.remove(name)
        env = {}
        device_requests = None
        if gpus:
            ids = ",".join(str(g) for g in gpus)
            env = {"CUDA_VISIBLE_DEVICES": ids} if self.settings.gpus.request == "env" else {}
            if self.settings.gpus.request == "device":
                device_requests = [DeviceRequest(driver="nvidia", device_ids=[str(g) for g in gpus],
                                                 capabilities=[["gpu"]])]
        volumes = {}
        model_dir = _model_dir(self.settings, task)
        if model_dir is not None:
            volumes[str(model_dir)] = {"bind": "/model", "mode": "ro"}
        container = self.client.containers.run(
            image_for(self.settings, task), server_command(self.settings, task, params, port), name=name,
            detach=True, network_mode="host", environment=env, device_requests=device_requests,
            volumes=volumes, shm_size="16g", labels={LABEL: task.task_name, "servedeck.tuner.experiment": str(exp_id)})
        return Deployment(name, port, gpus, container.id)

    def log_tail(self, name: str, lines: int | None = None) -> str:
        import docker.errors

        try:
            raw = self.client.containers.get(name).logs(tail=lines or self.settings.log_tail_lines)
        except docker.errors.DockerException:
            return ""
        return strip_control(raw.decode("utf-8", "replace"))

    def wait_healthy(self, deployment: Deployment, timeout_s: float, stop: Callable[[], bool]) -> None:
        import docker.errors

        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=5.0) as http:
            while True:
                try:
                    container = self.client.containers.get(deployment.name)
                except docker.errors.NotFound:
                    raise ServerFailed("the server container disappeared") from None
                if container.status in ("exited", "dead"):
                    code = container.attrs.get("State", {}).get("ExitCode")
                    raise ServerFailed(f"the server exited (code {code}) before it was healthy",
                                       self.log_tail(deployment.name))
                try:
                    if http.get(deployment.base_url + "/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if stop():
                    raise Stopped()
                if time.monotonic() >= deadline:
                    raise ServerFailed(f"not healthy after {timeout_s:.0f} s", self.log_tail(deployment.name))
                time.sleep(self.settings.health_poll_s)

    def containers(self, task_name: str) -> list[str]:
        """Names of this task's experiment containers (any state)."""
        found = self.client.containers.list(all=True, filters={"label": f"{LABEL}={task_name}"})
        return [c.name for c in found]
