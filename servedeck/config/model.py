"""The typed config: one pydantic model per section, unknown keys rejected.

Backend targets are listed per kind under `backends:`; each kind validates its own
targets with the settings model it declares, so a third-party kind brings its schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SSHHost(Section):
    """How to reach one host over SSH; shared by every use of that host."""

    hostname: str = Field(description="Address or name to connect to.")
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = Field(default=None, description="Login user (default: the local user).")
    key_file: str | None = Field(default=None, description="Private key file.")
    known_hosts: str | None = Field(
        default=None, description="Extra known_hosts file checked besides ~/.ssh/known_hosts."
    )
    accept_new_host_key: bool = Field(
        default=False, description="Opt-in: trust and record a host key never seen before."
    )
    proxy_jump: str | None = Field(default=None, description="Name of another ssh host to jump through.")
    keepalive_s: int = Field(default=15, ge=0, description="SSH keepalive interval, 0 to disable.")
    connect_timeout_s: float = Field(default=10, gt=0)


class UISettings(Section):
    """How the cockpit looks and reacts."""

    theme: str | None = Field(default=None, description="A Textual theme name, e.g. nord, gruvbox.")
    keys: dict[str, str] = Field(
        default_factory=dict,
        description="Remapped key bindings: binding id -> keys (comma-separated).",
    )
    start_pane: str = Field(default="backends", description="The pane shown at start.")
    log_buffer_lines: int = Field(
        default=50_000, ge=100, le=5_000_000,
        description="Lines the logs pane keeps; older lines are dropped (and counted) so memory stays flat.",
    )


class ServedeckConfig(Section):
    """The whole file."""

    readonly: bool = Field(default=False, description="Refuse every action that changes anything.")
    ui: UISettings = Field(default_factory=UISettings)
    ssh: dict[str, SSHHost] = Field(default_factory=dict, description="SSH hosts by name.")
    orchestrator: dict[str, Any] | None = Field(
        default=None, description="`servedeck orchestrate` settings (checked against its own schema)."
    )
    deployments: list[dict[str, Any]] | None = Field(
        default=None, description="Orchestrated deployments (checked against the orchestrator's schema)."
    )
    tuner: dict[str, Any] | None = Field(
        default=None, description="`servedeck tune` settings (checked against its own schema)."
    )
    backends: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="Backend targets by kind (docker, prometheus, slurm, router...)."
    )

    @field_validator("backends", mode="before")
    @classmethod
    def _lists_of_targets(cls, value: Any) -> Any:
        if value is None:
            return {}
        return value
