"""The engine against a router that adds workers asynchronously, as sglang-router 0.3.x
does: an add is answered at once (202) and the worker is listed only once the router's add
has run, which waits until the URL answers. A worker let go of before it was listed must
not leave its row behind for the next worker on its port (the router would serve that
one while it boots, and the orchestrator would count it registered)."""

from __future__ import annotations

from servedeck.backends.rows import WorkerRow
from servedeck.orchestrator.adapters import SlurmJob
from servedeck.orchestrator.config import SGOrchConfig
from servedeck.orchestrator.engine import Engine
from servedeck.orchestrator.health import Probe
from servedeck.orchestrator.sbatch import Marker
from servedeck.orchestrator.state import READY

LO = 41700  # below the ephemeral range; nothing listens here in the tests' world


class AsyncRouter:
    """Adds wait in `pending` until `run_adds()`; removals take listed rows only."""

    def __init__(self):
        self.pending: list[str] = []
        self.listed: dict[str, WorkerRow] = {}

    def workers(self):
        return tuple(self.listed.values())

    def add(self, url):
        if url not in self.listed and url not in self.pending:
            self.pending.append(url)

    def remove(self, row):
        self.listed.pop(row.url, None)

    def run_adds(self):
        for url in self.pending:
            self.listed[url] = WorkerRow(router="r", id=f"id-{url}", url=url, healthy=True, load=0, model="")
        self.pending.clear()

    def close(self):
        pass


class Slurm:
    def __init__(self, engine_ref):
        self.jobs_by_id: dict[str, SlurmJob] = {}
        self.engine_ref = engine_ref
        self.next_id = 1

    def jobs(self, prefix):
        return list(self.jobs_by_id.values())

    def submit(self, path):
        dep, iid = path.stem.split("-", 1)
        w = self.engine_ref[0].state.deployment(dep).workers[iid]
        job_id = str(self.next_id)
        self.next_id += 1
        self.jobs_by_id[job_id] = SlurmJob(job_id, f"sgorch-{dep}", "RUNNING", "127.0.0.1", 3600,
                                           Marker(dep, iid, w.port))
        return job_id

    def cancel(self, job_id):
        self.jobs_by_id.pop(job_id, None)


class Prober:
    """Every worker answers, except those listed in `down` (by port)."""

    def __init__(self):
        self.down: set[int] = set()

    def probe_many(self, targets, timeout, headers=None):
        return {key: Probe(int(url.rsplit(":", 1)[1].split("/")[0]) not in self.down) for key, url in targets}

    def close(self):
        pass


def make(tmp_path):
    cfg = SGOrchConfig.model_validate({
        "orchestrator": {"state_dir": str(tmp_path / "state"), "metrics": {"enabled": False}},
        "deployments": [{"name": "d", "replicas": 1, "backend": {"type": "tei", "args": ["--port", "{PORT}"]},
                         "connectivity": {"mode": "direct", "worker_port_range": [LO, LO + 9],
                                          "node_address": "{node}"},
                         "router": {"base_url": "http://127.0.0.1:9"},
                         "slurm": {"log_dir": str(tmp_path / "logs")},
                         "health": {"interval_s": 1, "consecutive_ok_for_ready": 1, "failures_to_unhealthy": 1},
                         "policy": {"restart_backoff_s": 0, "deregister_grace_s": 0}}],
    })
    ref: list = []
    slurm = Slurm(ref)
    engine = Engine(cfg, slurm=slurm)  # type: ignore[arg-type]
    ref.append(engine)
    router = AsyncRouter()
    engine.routers["d"].close()
    engine.routers["d"] = router  # type: ignore[assignment]
    engine.prober.close()
    engine.prober = Prober()  # type: ignore[assignment]
    return engine, slurm, router


def workers(engine):
    return list(engine.state.deployment("d").workers.values())


def test_a_worker_gone_before_the_router_listed_it_leaves_no_row_for_the_next(tmp_path):
    engine, slurm, router = make(tmp_path)
    try:
        engine.run_pass(force=True)  # submit
        engine.run_pass(force=True)  # running: its URL is known
        engine.run_pass(force=True)  # healthy: ready, added (the router's add waits)
        (first,) = workers(engine)
        assert first.phase == READY and router.pending == [first.url] and not router.listed
        slurm.jobs_by_id.clear()  # its job ends before the router has listed it
        engine.run_pass(force=True)  # gone, forgotten, a replacement submitted
        slurm.jobs_by_id.clear()  # that one ends before it runs: the next takes the lowest free port
        engine.run_pass(force=True)
        (second,) = workers(engine)
        engine.prober.down.add(second.port)  # the replacement boots: not answering yet
        engine.run_pass(force=True)
        router.run_adds()  # the first worker's add runs now (something answers on its URL)
        for _ in range(3):
            engine.run_pass(force=True)
        (second,) = workers(engine)
        assert second.phase != READY
        assert list(router.listed) == [], "the router lists a worker the orchestrator let go of or not ready yet"
        assert not second.registered
        engine.prober.down.clear()  # booted
        engine.run_pass(force=True)
        router.run_adds()
        engine.run_pass(force=True)
        engine.run_pass(force=True)
        (second,) = workers(engine)
        assert second.phase == READY and second.registered and list(router.listed) == [second.url]
    finally:
        engine.close()


def test_a_draining_worker_the_router_lists_late_is_removed_when_its_job_ends(tmp_path):
    engine, slurm, router = make(tmp_path)
    try:
        for _ in range(3):
            engine.run_pass(force=True)
        (first,) = workers(engine)
        assert first.phase == READY and router.pending == [first.url]
        engine.prober.down.add(first.port)  # fails its next probe: drained before it was listed
        engine.run_pass(force=True)
        router.run_adds()  # then the router lists it after all
        for _ in range(4):
            engine.run_pass(force=True)
        assert first.instance_id not in {w.instance_id for w in workers(engine)}
        assert first.url not in router.listed
    finally:
        engine.close()
