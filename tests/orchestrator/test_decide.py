"""The reconciler's decisions on hand-made facts: no services involved."""

from __future__ import annotations

import itertools

import pytest

from servedeck.backends.rows import WorkerRow
from servedeck.orchestrator import policy
from servedeck.orchestrator.adapters import SlurmJob
from servedeck.orchestrator.config import Deployment
from servedeck.orchestrator.health import Probe
from servedeck.orchestrator.reconciler import Facts, decide
from servedeck.orchestrator.sbatch import Marker
from servedeck.orchestrator.state import DeploymentState, Worker


def dep(**policy_overrides) -> Deployment:
    return Deployment.model_validate({
        "name": "d", "replicas": 2, "router": {"base_url": "http://127.0.0.1:1"},
        "connectivity": {"worker_port_range": [100, 199]},
        "sglang": {"command": ["x"], "args": ["--port", "{PORT}"]},
        "health": {"consecutive_ok_for_ready": 2, "failures_to_unhealthy": 2},
        "policy": {"restart_backoff_s": 10, "deregister_grace_s": 5, "start_grace_period_s": 60,
                   "predrain_seconds_before_walltime": 100, **policy_overrides},
    })


def job(iid: str, job_id: str, state: str = "RUNNING", port: int = 100, left: int | None = 3600,
        node: str = "n1") -> SlurmJob:
    return SlurmJob(job_id, "sgorch-d", state, node if state == "RUNNING" else "", left, Marker("d", iid, port))


def row(url: str) -> WorkerRow:
    return WorkerRow(router="r", id=url, url=url, healthy=True, load=0, model="m")


class Run:
    """Calls decide with fresh ids and ports."""

    def __init__(self, d: Deployment):
        self.d, self.s = d, DeploymentState("d")
        self.ids = (f"i{n}" for n in itertools.count())
        self.ports = itertools.count(100)

    def __call__(self, now, jobs, router=(), health=None, ready_lines=frozenset()):
        effects = decide(self.d, self.s, Facts(now, jobs, tuple(router) if router is not None else None,
                                               health or {}, ready_lines),
                         new_port=lambda: next(self.ports), new_id=lambda: next(self.ids))
        for e in effects:  # as the engine does; other effects need services
            if e.kind == "forget":
                self.s.workers.pop(e.instance_id, None)
        return effects

    def add(self, iid, **fields) -> Worker:
        w = Worker(instance_id=iid, port=fields.pop("port", 100), **fields)
        self.s.workers[iid] = w
        return w


def kinds(effects):
    return [e.kind for e in effects]


def test_from_nothing_submits_desired():
    run = Run(dep())
    effects = run(0, {})
    assert kinds(effects) == ["submit", "submit"]
    assert len({e.port for e in effects}) == 2


def test_unknown_slurm_changes_nothing():
    run = Run(dep())
    run.add("a", phase="ready", job_id="1", registered=True)
    assert run(0, None, router=None) == []


def test_startup_to_ready_to_registered():
    run = Run(dep())
    run.add("a", phase="pending", job_id="1")
    run.add("b", phase="pending", job_id="2", port=101)
    jobs = {"a": job("a", "1"), "b": job("b", "2", port=101)}
    assert kinds(run(0, jobs)) == []
    assert run.s.workers["a"].phase == "starting" and run.s.workers["a"].url == "http://n1:100"
    ok = {"a": Probe(True), "b": Probe(True)}
    assert kinds(run(1, jobs, health=ok)) == []  # one ok probe is not enough
    assert kinds(run(2, jobs, health=ok)) == ["register", "register"]
    assert run.s.workers["a"].phase == "ready"


def test_unhealthy_ready_worker_is_deregistered_drained_cancelled_and_replaced():
    run = Run(dep())
    run.add("a", phase="ready", job_id="1", node="n1", url="http://n1:100", registered=True, listed=True)
    run.add("b", phase="ready", job_id="2", node="n1", url="http://n1:101", port=101, registered=True)
    jobs = {"a": job("a", "1"), "b": job("b", "2", port=101)}
    router = [row("http://n1:100"), row("http://n1:101")]
    health = {"a": Probe(False, "HTTP 503"), "b": Probe(True)}
    assert kinds(run(0, jobs, router, health)) == []  # one failure is not enough
    effects = run(1, jobs, router, health)
    assert kinds(effects) == ["deregister", "submit"]  # replacement right away (first failure)
    assert run.s.workers["a"].phase == "draining" and run.s.restarts == {"unhealthy": 1}
    run.s.workers["a"].registered = False
    assert "cancel" not in kinds(run(3, jobs, router[1:], health))  # grace period (5 s)
    assert "cancel" in kinds(run(6.1, jobs, router[1:], health))
    done = {**jobs, "a": job("a", "1", state="CANCELLED")}
    assert "forget" in kinds(run(7, done, router[1:], health))


def test_job_gone_is_replaced_with_backoff_on_repeats():
    run = Run(dep())
    run.add("a", phase="ready", job_id="1", url="http://n1:100", node="n1")
    run.add("b", phase="ready", job_id="2", url="http://n1:101", node="n1", port=101, registered=True)
    effects = run(0, {"b": job("b", "2", port=101)}, [row("http://n1:101")], health={"b": Probe(True)})
    assert kinds(effects) == ["forget", "submit"]
    assert run.s.restarts == {"job_gone": 1}
    # that replacement failed at once as well:
    policy.record_failure(run.s, run.d.policy, 0, "job_gone", rand=lambda: 0.5)
    b = ({"b": job("b", "2", port=101)}, [row("http://n1:101")], {"b": Probe(True)})
    assert kinds(run(1, *b)) == []  # backing off
    assert kinds(run(11, *b)) == ["submit"]


def test_node_failure_blacklists_and_boot_timeouts_count():
    run = Run(dep(boot_failures_to_blacklist=2))
    run.add("a", phase="ready", job_id="1", node="n7", url="http://n7:100")
    run(0, {"a": SlurmJob("1", "sgorch-d", "NODE_FAIL", "n7", None, Marker("d", "a", 100))})
    assert policy.excluded_nodes(run.s, 1) == ["n7"]
    assert policy.excluded_nodes(run.s, 10_000) == []  # cooldown over

    run = Run(dep(boot_failures_to_blacklist=2))
    for t, iid in ((0, "a"), (100, "b")):
        run.add(iid, phase="starting", job_id=iid, node="n3", url="http://n3:100", started_at=t)
        run(t + 61, {iid: job(iid, iid, node="n3")}, health={iid: Probe(False, "refused")})
        assert run.s.workers[iid].phase == "cancelling"  # never registered: no grace needed
    assert "n3" in run.s.blacklist


def test_walltime_predrain_replacement_first_then_drain():
    run = Run(dep())
    d = run.d
    run.s.replicas_override = 1
    run.add("a", phase="ready", job_id="1", node="n1", url="http://n1:100", registered=True, listed=True)
    router = [row("http://n1:100")]
    effects = run(0, {"a": job("a", "1", left=90)}, router, {"a": Probe(True)})
    assert kinds(effects) == ["submit"] and run.s.workers["a"].retiring
    new = effects[0].instance_id
    run.add(new, phase="ready", job_id="2", node="n1", url="http://n1:101", port=101, registered=True)
    jobs = {"a": job("a", "1", left=80), new: job(new, "2", port=101)}
    health = {"a": Probe(True), new: Probe(True)}
    assert "deregister" not in kinds(run(1, jobs, router, health))  # the new one is not listed yet
    assert kinds(run(2, jobs, router + [row("http://n1:101")], health)) == ["deregister"]
    assert d.replicas == 2 and run.s.workers["a"].phase == "draining"


def test_adoption_of_marked_jobs_and_stale_router_entries():
    run = Run(dep())
    jobs = {"x": job("x", "7"), "y": job("y", "8", port=101)}
    router = [row("http://n1:100"), row("http://n1:150"), row("http://other:9000")]
    effects = run(0, jobs, router)
    assert set(run.s.workers) == {"x", "y"} and run.s.workers["x"].adopted
    assert run.s.workers["x"].registered  # it was in the router already
    stale = [e.row.url for e in effects if e.kind == "remove_stale"]
    assert stale == ["http://n1:150"]  # in our port range, no worker behind it; others left alone
    assert "submit" not in kinds(effects)


def test_submitting_record_without_job_is_forgotten_and_resubmitted():
    run = Run(dep())
    run.s.replicas_override = 1
    run.add("a", phase="submitting")
    assert kinds(run(0, {})) == ["forget", "submit"]  # never submitted: submit it now


def test_submitting_record_with_job_is_adopted_not_duplicated():
    run = Run(dep())
    run.s.replicas_override = 1
    run.add("a", phase="submitting")
    assert kinds(run(0, {"a": job("a", "5", state="PENDING")})) == []
    assert run.s.workers["a"].job_id == "5" and run.s.workers["a"].phase == "pending"


def test_circuit_breaker_holds_then_half_opens():
    run = Run(dep(circuit_breaker_failures=2, circuit_breaker_cooldown_s=100, restart_backoff_s=0))
    opened = [policy.record_failure(run.s, run.d.policy, 0, "boot_timeout") for _ in range(2)]
    assert opened == [False, True]
    assert kinds(run(50, {})) == []  # open: nothing submitted
    assert kinds(run(101, {})) == ["submit"]  # half-open: one trial at a time
    assert policy.breaker_state(run.s, run.d.policy, 101) == "half-open"


def test_pause_and_scale():
    run = Run(dep())
    run.s.paused = True
    assert kinds(run(0, {})) == []
    run.s.paused = False
    run.s.replicas_override = 0
    run.add("a", phase="ready", job_id="1", node="n1", url="http://n1:100", registered=True)
    effects = run(1, {"a": job("a", "1")}, [row("http://n1:100")], {"a": Probe(True)})
    assert kinds(effects) == ["deregister"] and run.s.workers["a"].phase == "draining"


@pytest.mark.parametrize("attempt, expected", [(0, 0), (1, 10), (2, 20), (3, 40), (10, 60)])
def test_backoff_doubles_and_caps(attempt, expected):
    assert policy.backoff(10, attempt, 60, rand=lambda: 0.5) == expected
    if expected:
        assert 0.8 * expected <= policy.backoff(10, attempt, 60) <= 1.2 * expected
