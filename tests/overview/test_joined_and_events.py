"""The joined endpoint view and the event feed, on rows as the backends build them."""

from __future__ import annotations

from dataclasses import replace

from servedeck.backends.base import Health
from servedeck.overview.blocks import blocks, gpu_hosts
from servedeck.overview.events import Event, EventFeed, read_events
from servedeck.overview.joined import endpoints

from overview.rows import NOW, container, gpu, job, serving, snap, tunnel, worker


def test_one_row_per_endpoint_joins_gpu_job_worker_tunnel_and_container():
    snaps = {
        "rt": snap("rt", "router", workers=(worker("http://127.0.0.1:31000"), worker("http://127.0.0.1:30001", healthy=False))),
        "cl": snap("cl", "slurm", jobs=(job("7", port=30000, node="gpu01"), job("8", port=30001, node="vm"),
                                         job("9", port=30002, node="gpu02"))),
        "tu": snap("tu", "tunnels", tunnels=(tunnel("t7", "reconnecting", local="127.0.0.1:31000", remote="gpu01:30000"),)),
        "prom": snap("prom", "prometheus", gpus=(gpu("gpu01", 0, used_by="job 7"), gpu("gpu01", 1, used_by="job 7", xid=13)),
                     serving=(serving("127.0.0.1:31000"),)),
        "dk": snap("dk", "docker", containers=(container("sglang-a", "0.0.0.0:30001->30000/tcp"),)),
    }
    rows = {r.id: r for r in endpoints(snaps)}
    assert set(rows) == {"127.0.0.1:31000", "127.0.0.1:30001", "gpu02:30002"}
    tunneled = rows["127.0.0.1:31000"]
    assert (tunneled.job_id, tunneled.tunnel, tunneled.tunnel_state, tunneled.gpus) == ("7", "t7", "reconnecting", "gpu01/0, gpu01/1")
    assert tunneled.gpu_state == "xid" and tunneled.serving_state == "ok"
    assert tunneled.links == "tunnel reconnecting, gpu xid"
    local = rows["127.0.0.1:30001"]
    assert (local.job_id, local.worker_state, local.container) == ("8", "unhealthy", "sglang-a")
    assert rows["gpu02:30002"].worker_state == "unregistered" and rows["gpu02:30002"].links == "worker unregistered"


def test_blocks_summarise_and_lead_to_rows():
    snaps = {"cl": snap("cl", "slurm", jobs=tuple(job(str(i), "PENDING" if i % 3 else "RUNNING") for i in range(30)) + (job("99", "FAILED"),)),
             "prom": snap("prom", "prometheus", gpus=(gpu("b", 1), gpu("a", 0), gpu("b", 0, xid=1)))}
    jobs = next(b for b in blocks(snaps) if b.key == "jobs")
    assert [r.cells[1:] for r in jobs.rows] == [("FAILED", "1"), ("PENDING", "20"), ("RUNNING", "10")]
    assert jobs.rows[0].level == "crit" and jobs.rows[0].jump.row.job_id == "99"
    hosts = gpu_hosts(snaps)
    assert [(h.host, [g.gpu for g in h.gpus], h.xid, h.level) for h in hosts] == [("a", ["0"], 0, ""), ("b", ["0", "1"], 1, "crit")]


def test_events_from_successive_snapshots_and_the_file(tmp_path):
    feed = EventFeed(tmp_path / "events.jsonl", capacity=3)
    base = dict(workers=(worker("http://w1"), worker("http://w2")), jobs=(job("1"), job("2", "PENDING")))
    assert feed.observe(snap("rt", "router", **base)) == []  # a baseline, not a burst
    changed = snap("rt", "router", Health.DOWN, "refused", workers=(worker("http://w1", healthy=False), worker("http://w3")),
                   jobs=(job("1", "FAILED"), job("2")))
    kinds = sorted(e.kind for e in feed.observe(changed, now=NOW + 5))
    assert kinds == ["backend.down", "job.ended", "job.started", "worker.registered", "worker.removed", "worker.unhealthy"]
    assert len(feed.newest()) == 3  # bounded in memory
    on_disk = read_events(tmp_path / "events.jsonl")
    assert sorted(e.kind for e in on_disk) == kinds and all(e.at == NOW + 5 for e in on_disk)
    assert feed.observe(changed) == []  # the same snapshot again: nothing new


def test_tunnel_reconnect_and_drain_steps_are_events(tmp_path):
    feed = EventFeed(None)
    feed.observe(snap("tu", "tunnels", tunnels=(tunnel("t1"),), jobs=(job("5"),)))
    feed.observe(snap("tu", "tunnels", tunnels=(tunnel("t1", "down", error="EOF"),), jobs=(replace(job("5"), draining="deregistered"),)))
    feed.observe(snap("tu", "tunnels", tunnels=(tunnel("t1"),), jobs=(replace(job("5"), draining="deregistered"),)))
    assert [e.kind for e in feed.newest()] == ["tunnel.reconnected", "tunnel.down", "drain.step"]
    assert Event.from_json(feed.newest()[1].to_json()) == feed.newest()[1]
