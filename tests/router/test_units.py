"""Pure logic of the router layer: matching workers to jobs and tunnels, drain order."""

from __future__ import annotations

import socket

import pytest
from servedeck.backends.base import ActionResult
from servedeck.backends.router.drain import DrainError, DrainPlan, plan_for, run_drain
from servedeck.backends.router.match import Board, expand_nodes, match_worker
from servedeck.backends.rows import JobRow, TunnelRow, WorkerRow

HOST = socket.gethostname().split(".")[0]


def job(job_id="7", node=HOST, port=30000, state="RUNNING", cluster="c") -> JobRow:
    return JobRow(cluster=cluster, job_id=job_id, name="w", user="u", state=state, partition="p", node=node,
                  elapsed_s=1, time_left_s=None, reason="", gpus=1, port=port)


def worker(url: str, router="r") -> WorkerRow:
    return WorkerRow(router=router, id=f"id-{url}", url=url, healthy=True, load=0, model="m")


def tunnel(local: str, remote: str) -> TunnelRow:
    return TunnelRow(name="t1", mode="local", ssh="lab", local=local, remote=remote, state="up",
                     connections=0, bytes_in=0, bytes_out=0, error="", since=None)


def test_expand_nodes():
    assert expand_nodes("gpu[01-03,07],login") == ["gpu01", "gpu02", "gpu03", "gpu07", "login"]
    assert expand_nodes("n1") == ["n1"] and expand_nodes("") == []


def test_match_by_node_and_port_and_through_tunnel():
    jobs = [job("1", node="gpu[01-02]", port=8000), job("2", node=HOST, port=30001)]
    assert match_worker("http://gpu02:8000", jobs).job.job_id == "1"
    assert match_worker("http://gpu03:8000", jobs).job is None  # other node
    assert match_worker("http://127.0.0.1:30001", jobs).job.job_id == "2"  # loopback = this machine
    assert match_worker("http://127.0.0.1:30002", jobs).job is None  # other port
    via = match_worker("http://127.0.0.1:31000", jobs, [tunnel("127.0.0.1:31000", "gpu01:8000")])
    assert via.job.job_id == "1" and via.tunnel.name == "t1"
    assert match_worker("http://gpu01:8000", [job("3", node="gpu01", port=8000, state="COMPLETED")]).job is None


class FakeRouter:
    name, kind = "r", "router"

    def __init__(self, ok=True):
        self.ok, self.calls = ok, []

    def perform(self, action_id, row, value=None):
        self.calls.append(action_id)
        return ActionResult(self.ok, "removed" if self.ok else "HTTP 500 boom")


class FakeSlurm:
    name, kind = "c", "slurm"

    def __init__(self, cancel_ok=True, states=("RUNNING", "CANCELLED")):
        self.cancel_ok, self.states, self.calls = cancel_ok, list(states), []

    def cancel(self, job_id, name=""):
        self.calls.append(("cancel", job_id))
        return ActionResult(self.cancel_ok, "cancelled" if self.cancel_ok else "scancel: permission denied")

    def job_state(self, job_id):
        self.calls.append(("state", job_id))
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def test_drain_runs_steps_in_order():
    router, slurm = FakeRouter(), FakeSlurm()
    events = list(run_drain(DrainPlan(router, worker("http://x:1"), slurm, job()), 0.01))
    assert [(e.step, e.status) for e in events] == [
        ("remove", "started"), ("remove", "ok"), ("grace", "started"), ("grace", "ok"),
        ("cancel", "started"), ("cancel", "ok"), ("confirm", "started"), ("confirm", "ok"), ("done", "ok")]
    assert router.calls == ["worker.remove"] and slurm.calls[0] == ("cancel", "7")


def test_drain_failed_step_stops_and_says_where():
    slurm = FakeSlurm()
    events = list(run_drain(DrainPlan(FakeRouter(ok=False), worker("http://x:1"), slurm, job()), 0))
    assert events[-1].status == "failed" and "at remove" in events[-1].text and "boom" in events[-1].text
    assert slurm.calls == []  # never cancelled after a failed removal
    events = list(run_drain(DrainPlan(FakeRouter(), worker("http://x:1"), FakeSlurm(cancel_ok=False), job()), 0))
    assert (events[-1].step, events[-1].status) == ("cancel", "failed") and "permission denied" in events[-1].text


def test_plan_for_resolves_job_or_worker():
    board = Board()
    router, slurm = FakeRouter(), FakeSlurm()
    board.register(router)
    board.register(slurm)
    board.publish("jobs", "c", [job("7", port=30009)])
    board.publish("workers", "r", [worker("http://127.0.0.1:30009"), worker("http://127.0.0.1:1")])
    plan = plan_for("7", board)
    assert plan.worker.url == "http://127.0.0.1:30009" and plan.router is router and plan.slurm is slurm
    plan = plan_for("http://127.0.0.1:30009", board)
    assert plan.job.job_id == "7"
    assert plan_for("http://127.0.0.1:1", board).job is None
    with pytest.raises(DrainError):
        plan_for("99", board)
    with pytest.raises(DrainError):
        plan_for("http://nowhere:5", board)


def test_refresh_board_fetches_rows_hidden_panes_did_not_publish():
    from servedeck.backends.base import BackendError as Down
    from servedeck.backends.router.drain import refresh_board

    board = Board()

    class PollingRouter(FakeRouter):
        def poll(self, wanted):
            board.publish("workers", self.name, [worker("http://127.0.0.1:30009")])
            return {}

    class DownSlurm(FakeSlurm):
        def poll(self, wanted):
            raise Down("slurmctld down")

    board.register(PollingRouter())
    board.register(DownSlurm())
    board.publish("jobs", "c", [job("7", port=30009)])
    refresh_board(board)  # a down backend does not stop the refresh
    assert plan_for("7", board).worker.url == "http://127.0.0.1:30009"

