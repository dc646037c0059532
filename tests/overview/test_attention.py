"""Each "needs attention" rule on the rows the real backends produce, and the order."""

from __future__ import annotations

from servedeck.backends.base import Health
from servedeck.overview.attention import Attention, Limits
from servedeck.overview.common import BackendRef

from overview.rows import NOW, deployment, gpu, job, run, serving, snap, tunnel, worker


def items(*snaps, now=NOW, attention=None):
    attention = attention or Attention()
    return attention.items({s.backend: s for s in snaps}, now)


def test_a_healthy_fleet_needs_nothing():
    assert items(snap("rt", "router", workers=(worker("http://127.0.0.1:30000"),)),
                 snap("cl", "slurm", jobs=(job("1", port=30000),)),
                 snap("prom", "prometheus", gpus=(gpu("vm", 0),), serving=(serving("127.0.0.1:30000"),))) == []


def test_backend_down_comes_first_with_its_age_and_message():
    found = items(snap("rt", "router", workers=(worker("http://a:1", healthy=False),)),
                  snap("cl", "slurm", Health.DOWN, "ssh: connection refused", since=NOW - 300))
    assert [i.rule for i in found] == ["backend_down", "worker_unhealthy"]
    down = found[0]
    assert down.severity == "crit" and down.since == NOW - 300 and "connection refused" in down.why
    assert down.jump.pane == "backends" and down.jump.row == BackendRef("cl")


def test_failed_and_cancelled_jobs_and_a_long_pending_one():
    attention = Attention(Limits(pending_s=60, ended_s=600))
    cluster = snap("cl", "slurm", jobs=(job("1", "FAILED"), job("2", "CANCELLED"), job("3", "PENDING", reason="Resources")))
    first = items(cluster, attention=attention)
    assert {i.rule for i in first} == {"job_failed", "job_cancelled"}  # pending for 0 s only
    later = items(cluster, now=NOW + 61, attention=attention)
    pending = next(i for i in later if i.rule == "job_pending")
    assert pending.since == NOW and "Resources" in pending.why  # counted from the first look
    assert [i.severity for i in later][0] == "crit"
    assert not any(i.rule.startswith("job_") and i.rule != "job_pending" for i in items(cluster, now=NOW + 700, attention=attention))


def test_a_running_job_with_a_port_no_router_lists_is_unregistered():
    found = items(snap("rt", "router", workers=(worker("http://127.0.0.1:30000"),)),
                  snap("cl", "slurm", jobs=(job("1", port=30000), job("2", port=30001))))
    assert [(i.rule, i.subject) for i in found] == [("worker_unregistered", "job 2 :30001")]
    # without any router's answer nothing can be said
    assert items(snap("cl", "slurm", jobs=(job("2", port=30001),))) == []


def test_tunnel_down_deployment_short_instance_down():
    found = items(snap("tu", "tunnels", tunnels=(tunnel("t1", "down", error="EOF", since=NOW - 90), tunnel("t2"))),
                  snap("orch", "orchestrator", deployments=(deployment("dep", 2, 1, "worker 2 pending"),)),
                  snap("prom", "prometheus", serving=(serving("h:1", "down", age_s=40),)))
    by_rule = {i.rule: i for i in found}
    assert by_rule["tunnel_down"].since == NOW - 90 and "EOF" in by_rule["tunnel_down"].why
    assert "1/2 ready" in by_rule["deployment_short"].why
    assert by_rule["instance_down"].since == NOW - 40
    assert found[0].rule == "tunnel_down"  # the only critical one


def test_gpu_xid_and_temperature_and_invalid_run():
    found = items(snap("prom", "prometheus", gpus=(gpu("n1", 0, xid=79), gpu("n1", 1, temp=91, temp_level="crit"),
                                                   gpu("n1", 2, temp=80, temp_level="warn"), gpu("n1", 3))),
                  snap("runs", "runs", container_runs=(run("r1", ("dcgm-exporter failed to start",)), run("r0", ("x",), current=False))))
    assert [(i.rule, i.subject, i.severity) for i in found] == [
        ("gpu_xid", "GPU n1/0", "crit"), ("gpu_hot", "GPU n1/1", "crit"),
        ("run_invalid", "run r1", "warn"), ("gpu_hot", "GPU n1/2", "warn")]  # older first within a severity
    assert "XID error 79" in found[0].why and "91°C" in found[1].why
    assert "dcgm-exporter failed" in found[2].why
