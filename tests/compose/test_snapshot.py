"""What the compose pane looks like: the project on a bold row with its state summary,
its services beneath in depends_on order, health and exit codes coloured."""

from __future__ import annotations

from servedeck.app.main_app import ServedeckApp
from servedeck.backends.compose.backend import ComposeBackend, ComposeSettings
from servedeck.backends.compose.rows import ComposeRow
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import BackendRunner
from servedeck.config import load_text
from shell_support import wait_for

SIZE = (150, 16)


def row(service: str, state: str, health: str = "", *, order: int, depends: str = "", code=None) -> ComposeRow:
    return ComposeRow(
        id=f"seed/{service}" if service else "seed", kind="service" if service else "project", host="lab",
        project="seed", service=service, container=f"seed_{service}_1" if service else "3 containers",
        state=state, health=health, image="servedeck-lab-pylet:1" if service else "", ports="",
        started_at=None, exit_code=code, depends_on=depends, order=order, config_files=("docker-compose.yml",),
        working_dir="/srv/seed",
    )


ROWS = (
    row("", "degraded 2/3", "unhealthy", order=-1),
    row("pylet_head", "running", "healthy", order=0),
    row("pylet_worker", "running", "unhealthy", order=1, depends="pylet_head (healthy)"),
    row("sllm_head", "exited", order=2, depends="pylet_head (healthy), pylet_worker", code=1),
)


class RecordedCompose(ComposeBackend):
    """The compose backend answering a fixed set of rows (no Engine: the picture is fixed)."""

    def rows(self):
        return ROWS

    def _watch_events(self) -> None:
        pass


def test_compose_pane(snap_compare):
    backend = RecordedCompose(ComposeSettings(name="lab", interval=3600))
    app = ServedeckApp(load_text("ui: {start_pane: compose}\n", "test.yaml"), fleet=Fleet([BackendRunner(backend)]))

    async def ready(pilot):
        await wait_for(pilot, lambda: app._table("compose").row_count == 4)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
