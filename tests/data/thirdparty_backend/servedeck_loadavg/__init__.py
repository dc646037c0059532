"""A third-party backend, packaged and registered exactly as an outside author would."""

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from servedeck.backends.base import Backend, BackendError, BackendSettings, Column, PaneSpec


class LoadavgSettings(BackendSettings):
    path: str = Field(default="/proc/loadavg", description="File in /proc/loadavg format.")


@dataclass(frozen=True)
class Load:
    id: str
    load1: float
    load5: float


class LoadavgBackend(Backend):
    kind = "loadavg"
    settings_model = LoadavgSettings
    default_interval = 2.0
    # `:la` and `:load` reach the pane; order places it after the built-in gauge panes.
    panes = (PaneSpec("loadavg", "Load average", (Column("id", "Host"), Column("load1", "1m"), Column("load5", "5m")),
                      aliases=("la", "load"), order=55),)

    def poll(self, wanted):
        try:
            fields = Path(self.settings.path).read_text().split()
        except OSError as exc:
            raise BackendError(f"cannot read {self.settings.path}: {exc.strerror}")
        return {"loadavg": (Load("localhost", float(fields[0]), float(fields[1])),)} if "loadavg" in wanted else {}
