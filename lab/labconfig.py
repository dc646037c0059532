"""DIR/servedeck.yaml: the cockpit's config pointing at everything the lab runs."""

from __future__ import annotations

from typing import Any

import yaml

from servedeck.lab.services.compose_stack import recorded_stack
from servedeck.lab.services.dynamo import recorded_target as dynamo_target
from servedeck.lab.services.helper_container import recorded_target
from servedeck.lab.services.orchestrator import NAME as ORCHESTRATOR
from servedeck.lab.services.orchestrator import config_path as orchestrator_config
from servedeck.lab.state import LabError, LabInfo

HEADER = """\
# Written by `servedeck lab up` for the lab in {dir}.
# Open the cockpit on it:  servedeck --config {path}
# Stop the lab:            servedeck lab down --dir {dir}
# Tune the stand-in SGLang: servedeck --config {path} tune run {dir}/tuner-example.json
"""


def render(info: LabInfo) -> str:
    backends: dict[str, list[dict[str, Any]]] = {}
    data: dict[str, Any] = {"readonly": False}
    if info.docker_url:
        backends["docker"] = [{"name": "lab-docker", "url": info.docker_url}]
    if info.prometheus_url:
        # the lab scrapes every second: a 15 s window gives rates soon after a restart
        backends["prometheus"] = [{"name": "lab-prometheus", "url": info.prometheus_url, "rate_window": "15s"}]
    if info.router_url:
        backends["router"] = [{"name": "lab-router", "url": info.router_url}]
    pylet, sllm = info.service("pylet-head"), info.service("sllm-head")
    if pylet is not None and pylet.url:
        backends["pylet"] = [{"name": "lab-pylet", "url": pylet.url}]
    if sllm is not None and sllm.url:
        backends["sllm"] = [{"name": "lab-sllm", "url": sllm.url, **({"pylet_url": pylet.url} if pylet else {})}]
    runs_target = recorded_target(info.dir)  # the helper container `lab up` started
    if runs_target:
        backends["runs"] = [runs_target]
    stack = recorded_stack(info.dir)  # the Compose project `lab up` brought up
    if stack:
        backends["compose"] = [{"name": "lab-compose", "url": stack["docker_url"]}]
    dynamo = dynamo_target(info.dir)  # the stand-in Dynamo checkout `lab up` made
    if dynamo:
        backends["dynamo"] = [dynamo]
    if info.slurm and info.ssh:
        data["ssh"] = {"lab": {
            "hostname": info.ssh.host, "port": info.ssh.port, "user": info.ssh.user,
            "key_file": info.ssh.key_file, "known_hosts": info.ssh.known_hosts,
            "accept_new_host_key": False,
        }}
        backends["slurm"] = [{"name": "lab-slurm", "ssh": "lab"}]
    elif info.slurm and info.slurm_conf is None:
        backends["slurm"] = [{"name": "lab-slurm"}]  # a reused controller answers locally
    if info.service(ORCHESTRATOR) is not None:  # the orchestrator `lab up` runs (its socket from its config)
        backends["orchestrator"] = [{"name": "lab-orchestrator", "config": str(orchestrator_config(info.dir))}]
    if info.docker_url:  # the autotuner on the lab's engine, with the stand-in SGLang image
        tuner = info.dir / "tuner"
        data["tuner"] = {"docker_url": info.docker_url, "image": "servedeck-standin-sglang:lab",
                         "build_standin_image": True, "gpus": {"request": "env", "standin_count": 4},
                         "state_dir": str(tuner / "state"), "results_dir": str(tuner / "results")}
        backends["tuner"] = [{"name": "lab-tuner", "state_dir": str(tuner / "state"), "config": str(info.config_path)}]
    data["backends"] = backends
    return HEADER.format(dir=info.dir, path=info.config_path) + yaml.safe_dump(data, sort_keys=False)


def write(info: LabInfo) -> None:
    """Writes the file and proves it loads; a lab that writes a broken config is a bug."""
    from servedeck.config import ConfigError, load_config

    info.config_path.write_text(render(info))
    if info.docker_url:  # the real tool's example task, ready for `servedeck tune run`
        from importlib import resources

        example = resources.files("servedeck.tuner") / "examples" / "docker_task.json"
        (info.dir / "tuner-example.json").write_text(example.read_text())
    try:
        load_config(str(info.config_path))
    except ConfigError as exc:
        raise LabError(f"the lab wrote a config that does not load: {exc}") from None
