"""A fixed fleet for screen tests: in-process backends that answer with rows as the real
backends build them (their own PaneSpecs), one of them down."""

from __future__ import annotations

from servedeck.app.main_app import ServedeckApp
from servedeck.backends.base import Backend, BackendError, BackendSettings
from servedeck.backends.fleet import Fleet
from servedeck.backends.metrics.panes import GPUS, SERVING
from servedeck.backends.router.backend import WORKERS
from servedeck.backends.runner import BackendRunner
from servedeck.backends.slurm.backend import JOBS
from servedeck.backends.ssh.backend import TUNNELS
from servedeck.config import load_text
from servedeck.overview.events import EventFeed

from overview.rows import NOW, gpu, job, serving, tunnel, worker


class StaticBackend(Backend):
    kind = "static"

    def __init__(self, settings, panes: dict, down: str = ""):
        super().__init__(settings)
        self.rows, self.down = panes, down

    def poll(self, wanted):
        if self.down:
            raise BackendError(self.down, hint="check the login node")
        return {k: v for k, v in self.rows.items() if k in wanted}


def backend(name: str, kind: str, specs, rows: dict, down: str = "") -> BackendRunner:
    cls = type(f"{kind.title()}Static", (StaticBackend,), {"kind": kind, "panes": tuple(specs)})
    return BackendRunner(cls(BackendSettings(name=name, interval=3600), rows, down), clock=lambda: NOW)


def fleet() -> Fleet:
    gpus = tuple(gpu(f"gpu0{h}", i, used_by=f"job {100 + h}", temp=91 if (h, i) == (2, 3) else 55,
                     temp_level="crit" if (h, i) == (2, 3) else "ok", xid=79 if (h, i) == (1, 5) else 0)
                 for h in (1, 2) for i in range(8))
    return Fleet([
        backend("prom", "prometheus", (GPUS, SERVING), {
            "gpus": gpus, "serving": (serving("127.0.0.1:31001"), serving("127.0.0.1:31002", "down", age_s=75))}),
        backend("router", "router", (WORKERS,), {"workers": (worker("http://127.0.0.1:31001"),
                                                             worker("http://127.0.0.1:31002", healthy=False))}),
        backend("tunnels", "tunnels", (TUNNELS,), {"tunnels": (
            tunnel("gpu01-w", local="127.0.0.1:31001", remote="gpu01:30000"),
            tunnel("gpu02-w", "down", local="127.0.0.1:31002", remote="gpu02:30000", error="ssh session closed"))}),
        backend("cluster", "slurm", (JOBS,), {"jobs": (job("101", port=30000, node="gpu01"), job("102", port=30000, node="gpu02"),
                                                        job("103", "PENDING", reason="Resources"), job("104", "FAILED"))}),
        backend("login2", "slurm", (JOBS,), {}, down="ssh: connection refused"),
    ])


def make_app(config: str = "{}\n", clock=lambda: NOW) -> ServedeckApp:
    return ServedeckApp(load_text(config, "test.yaml"), fleet=fleet(), clock=clock, events=EventFeed(None))


async def settled(app, pilot) -> None:
    """Every backend polled once and the shown pane drawn from all of it (the overview
    redraws at the next 1 s tick, with every snapshot since the last one): no fixed sleep."""
    def done() -> bool:
        polled = all(s.state.health.value != "unknown" for s in app.snapshots.values())
        return polled and not app.poller.in_flight and not getattr(app, "_joined_pending", False)

    for _ in range(400):
        if done():
            break
        await pilot.pause(0.05)
    assert done(), "the fleet never settled"
    await pilot.pause()  # the layout and paint of the last update
