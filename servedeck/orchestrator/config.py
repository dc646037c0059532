"""The orchestrator's schema (SGOrch's config), standalone or as a section of servedeck's.

Two forms of a deployment are accepted: the seed's (`sglang:` launch settings, `router:`
required) and the newer one (`backend: {type: sglang | tei, ...}`, `router:` optional for
backends that need none). Both normalise to one `Deployment` with a `launch` block.
Values that end up in an sbatch script are checked here so that a bad value is a located
config error, never a broken or injected script.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from servedeck.config.document import load_model, read_config_text
from servedeck.config.errors import ConfigError, Problem

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SBATCH_VALUE = re.compile(r"^[^\s\"'#\\]+$")  # one token SLURM parses literally
SERVEDECK_KEYS = ("backends", "ui", "ssh", "readonly")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsSettings(Section):
    enabled: bool = Field(default=True, description="Serve Prometheus /metrics.")
    bind: str = Field(default="127.0.0.1", description="Address /metrics listens on.")
    port: int = Field(default=9315, ge=0, le=65535, description="Port of /metrics (0: any free port).")


class EmailSettings(Section):
    """SMTP delivery of notifications (the public sgorch's `notifications.email`)."""

    smtp_host: str | None = Field(default=None, description="SMTP server, `host` or `host:port` (port 25 by default).")
    from_addr: str | None = None
    to_addrs: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=10.0, gt=0, description="Seconds one delivery may take.")

    @field_validator("smtp_host", "from_addr")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "\r\n"):
            raise ValueError("must be a single line")
        return value

    @field_validator("to_addrs")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if any("\r" in v or "\n" in v or "@" not in v for v in value):
            raise ValueError("each entry must be one address (name@host) on one line")
        return value

    def server(self) -> tuple[str, int]:
        host, sep, port = (self.smtp_host or "").rpartition(":")
        if sep and port.isdigit():
            return host, int(port)
        return self.smtp_host or "", 25


class NotificationSettings(Section):
    type: Literal["log_only", "email"] = Field(default="log_only", description="Where notifications go.")
    email: EmailSettings = Field(default_factory=EmailSettings)

    @model_validator(mode="after")
    def _email_complete(self) -> "NotificationSettings":
        e = self.email
        if self.type == "email" and not (e.smtp_host and e.from_addr and e.to_addrs):
            raise ValueError("type: email needs email.smtp_host, email.from_addr and email.to_addrs")
        return self


class NodeProbeSettings(Section):
    """A small chat completion sent to each ready worker (the public sgorch's node probe)."""

    enabled: bool = False
    interval_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    model: str | None = Field(default=None, description="Model name sent; default: the worker's first /v1/models entry.")
    prompt: str = "ping"


class StateSettings(Section):
    """The public sgorch's `state:` block; `file_path` overrides STATE_DIR/state.json."""

    backend: Literal["file"] = "file"
    file_path: str | None = None


class OrchestratorSettings(Section):
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    node_probe: NodeProbeSettings = Field(default_factory=NodeProbeSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    state_dir: str = Field(default="~/.local/state/servedeck/orchestrator",
                           description="Where the persisted state, scripts and the control socket live.")
    control_socket: str | None = Field(default=None, description="Unix socket path (default: STATE_DIR/control.sock).")
    tick_s: float = Field(default=1.0, gt=0, description="Longest sleep between reconcile passes.")
    slurm_watch_s: float = Field(default=1.0, gt=0, description="How often squeue is watched between health "
                                 "passes (one squeue for every deployment).")

    def state_path(self) -> Path:
        return Path(os.path.expanduser(self.state_dir))

    def state_file(self) -> Path:
        if self.state.file_path:
            return Path(os.path.expanduser(self.state.file_path))
        return self.state_path() / "state.json"

    def socket_path(self) -> Path:
        return Path(os.path.expanduser(self.control_socket)) if self.control_socket else self.state_path() / "control.sock"


class SSHSettings(Section):
    """The SSH connection -L tunnels go through (a login node that reaches the compute nodes)."""

    user: str | None = None
    opts: list[str] = Field(default_factory=list, description="Kept for the seed's schema; paramiko ignores them.")
    hostname: str | None = Field(default=None, description="Host -L tunnels go through (default: the node itself).")
    port: int = Field(default=22, ge=1, le=65535)
    key_file: str | None = None
    known_hosts: str | None = None
    accept_new_host_key: bool = False
    keepalive_s: int = Field(default=15, ge=0)

    def host(self, node: str = ""):
        from servedeck.config.model import SSHHost

        return SSHHost(hostname=self.hostname or node, port=self.port, user=self.user, key_file=self.key_file,
                       known_hosts=self.known_hosts, accept_new_host_key=self.accept_new_host_key,
                       keepalive_s=self.keepalive_s)


class Connectivity(Section):
    mode: Literal["direct", "tunneled"] = "direct"
    tunnel_mode: Literal["local", "reverse"] = "local"
    orchestrator_host: str = "127.0.0.1"
    advertise_host: str = "127.0.0.1"
    local_port_range: tuple[int, int] = (30000, 30999)
    worker_port_range: tuple[int, int] = Field(default=(31000, 31999),
                                               description="Ports handed to workers as {PORT}.")
    node_address: str = Field(default="{node}", description="How the router reaches a node in direct mode.")
    ssh: SSHSettings = Field(default_factory=SSHSettings)

    @field_validator("local_port_range", "worker_port_range")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = value
        if not (0 < lo <= hi < 65536):
            raise ValueError("must be [low, high] with 0 < low <= high < 65536")
        return value


class Endpoints(Section):
    list: str | None = None
    add: str | None = None
    remove: str | None = None


class RouterAuth(Section):
    type: Literal["header", "none"] = "header"
    header_name: str = "Authorization"
    header_value_env: str | None = None


class RouterSettings(Section):
    base_url: str
    endpoints: Endpoints = Field(default_factory=Endpoints)
    auth: RouterAuth | None = None
    timeout_s: float = Field(default=5.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class SlurmSettings(Section):
    prefer: Literal["rest", "cli", "auto"] = "auto"
    job_name_prefix: str = Field(default="sgorch-", description="Jobs are named PREFIX + deployment.")
    account: str | None = None
    reservation: str | None = None
    partition: str | None = None
    qos: str | None = None
    gres: str | None = None
    constraint: str | None = None
    time_limit: str | None = None
    cpus_per_task: int | None = Field(default=None, ge=1)
    mem: str | None = None
    log_dir: str = "~/sg-logs"
    env: dict[str, str] = Field(default_factory=dict)
    sbatch_extra: list[str] = Field(default_factory=list, description="Extra '#SBATCH' option lines, verbatim.")
    pre_commands: list[str] = Field(default_factory=list, description="Shell lines run before the worker starts.")
    command_timeout_s: float = Field(default=30.0, gt=0)
    time_limit_stagger_s: int = Field(default=0, ge=0, description="Accepted for the public sgorch's schema.")

    @field_validator("account", "reservation", "partition", "qos", "gres", "constraint", "time_limit", "mem",
                     "job_name_prefix")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not _SBATCH_VALUE.match(value):
            raise ValueError("must be one token without spaces, quotes, '#' or backslashes")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_KEY.match(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return value

    @field_validator("sbatch_extra", "pre_commands")
    @classmethod
    def _lines(cls, value: list[str]) -> list[str]:
        if any("\n" in v or "\r" in v for v in value):
            raise ValueError("each entry must be a single line")
        return value

    @field_validator("log_dir")
    @classmethod
    def _log_dir(cls, value: str) -> str:
        if "\n" in value or '"' in value or "%" in value:
            raise ValueError("must not contain newlines, double quotes or '%'")
        return value


class Launch(Section):
    """How the worker starts, whichever form the config used."""

    type: Literal["sglang", "tei"] = "sglang"
    model_path: str = ""
    model_id: str = Field(default="", description="TEI: the Hugging Face model id (same as model_path).")
    venv_path: str | None = None
    binary_path: str | None = Field(default=None, description="TEI: the text-embeddings-router binary (default: PATH).")
    revision: str | None = Field(default=None, description="TEI: the model revision (--revision).")
    prometheus_port: int | None = Field(default=None, ge=1, le=65535, description="TEI: --prometheus-port.")
    env: dict[str, str] = Field(default_factory=dict, description="Exported in the job before the worker starts.")
    command: list[str] | None = Field(default=None, description="Full program argv; replaces the default launcher.")
    args: list[str] = Field(default_factory=list)

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_KEY.match(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return value

    @property
    def model(self) -> str:
        return self.model_id or self.model_path

    def argv(self, port: int) -> list[str]:
        if self.command:
            head = list(self.command)
        elif self.type == "tei":
            head = [self.binary_path or "text-embeddings-router", "--model-id", self.model]
            if self.revision:
                head += ["--revision", self.revision]
            if self.prometheus_port and "--prometheus-port" not in self.args:
                head += ["--prometheus-port", str(self.prometheus_port)]
            if not any("{PORT}" in a for a in self.args) and "--port" not in self.args:
                head += ["--port", "{PORT}"]  # TEI's default 3000 would collide between replicas
        else:
            python = f"{self.venv_path.rstrip('/')}/bin/python" if self.venv_path else "python3"
            head = [python, "-m", "sglang.launch_server", "--model-path", self.model_path]
        return [a.replace("{PORT}", str(port)).replace("{MODEL}", self.model) for a in head + self.args]


class BackendBlock(Launch):
    """The newer form: `backend: {type: sglang | tei, model_path, args, ...}`."""


class HealthSettings(Section):
    path: str = "/health"
    interval_s: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=3.0, gt=0)
    consecutive_ok_for_ready: int = Field(default=2, ge=1)
    failures_to_unhealthy: int = Field(default=3, ge=1)
    headers: dict[str, str] = Field(default_factory=dict)


class PolicySettings(Section):
    restart_backoff_s: float = Field(default=60.0, ge=0)
    max_backoff_s: float = Field(default=600.0, ge=0)
    deregister_grace_s: float = Field(default=10.0, ge=0)
    start_grace_period_s: float = Field(default=600.0, gt=0)
    predrain_seconds_before_walltime: float = Field(default=180.0, ge=0)
    node_blacklist_cooldown_s: float = Field(default=600.0, ge=0)
    boot_failures_to_blacklist: int = Field(default=2, ge=1)
    circuit_breaker_failures: int = Field(default=5, ge=1, description="Consecutive failed replacements that open it.")
    circuit_breaker_cooldown_s: float = Field(default=300.0, ge=0)


class Deployment(Section):
    name: str
    replicas: int = Field(ge=0)
    connectivity: Connectivity = Field(default_factory=Connectivity)
    router: RouterSettings | None = None
    slurm: SlurmSettings = Field(default_factory=SlurmSettings)
    sglang: Launch | None = None
    backend: BackendBlock | None = None
    health: HealthSettings = Field(default_factory=HealthSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    enable_worker_metrics: bool = Field(default=False, description="Accepted for the public sgorch's schema.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("must be 1-63 letters, digits, '.', '_' or '-' (it becomes part of SLURM job names)")
        return value

    @model_validator(mode="after")
    def _forms(self) -> "Deployment":
        if (self.sglang is None) == (self.backend is None):
            raise ValueError("give exactly one of `sglang:` (launch settings) or `backend: {type: ...}`")
        if self.router is None and self.launch.type == "sglang":
            raise ValueError("an sglang deployment needs a `router:` block")
        if self.connectivity.mode == "tunneled" and self.router is None and self.launch.type == "sglang":
            raise ValueError("tunneled connectivity needs a `router:` block")
        if not any("{PORT}" in a for a in (self.launch.command or []) + self.launch.args):
            if self.launch.type == "sglang":
                raise ValueError("the launch args must pass the port as {PORT}")
        return self

    @property
    def launch(self) -> Launch:
        return self.backend if self.backend is not None else self.sglang  # type: ignore[return-value]

    @property
    def job_name(self) -> str:
        return f"{self.slurm.job_name_prefix}{self.name}"


class SGOrchConfig(Section):
    orchestrator: OrchestratorSettings = Field(default_factory=OrchestratorSettings)
    deployments: list[Deployment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "SGOrchConfig":
        names = [d.name for d in self.deployments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate deployment names: {', '.join(dupes)}")
        return self

    def deployment(self, name: str) -> Deployment | None:
        return next((d for d in self.deployments if d.name == name), None)


def load(path: str | Path) -> SGOrchConfig:
    """A standalone SGOrch file, or servedeck's config with `orchestrator:`/`deployments:`."""
    return load_text(read_config_text(Path(path)), str(path))


def load_text(text: str, source: str) -> SGOrchConfig:
    import yaml

    from servedeck import bounded

    keys = None
    try:
        top = bounded.safe_load_yaml(text)
    except (yaml.YAMLError, bounded.InputRejected):
        top = None  # load_model reports it with its location
    if isinstance(top, dict) and any(k in top for k in SERVEDECK_KEYS):
        keys = ("orchestrator", "deployments")  # a section of servedeck's config
    config, _marks = load_model(text, source, SGOrchConfig, keys=keys)
    if not config.deployments:
        raise ConfigError([Problem(source, 1, 1, "no deployments configured (add a `deployments:` list)")])
    from servedeck import secrets

    secrets.register_model(config)  # header_value_env and the like: masked in every log line
    return config
