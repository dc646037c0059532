"""The overview on the real lab: every "needs attention" rule that a real fault can
trigger here, the joined view against the services' own answers, and the cockpit
opening on the overview with its blocks live.

Faults are this test's own (its own worker, job, tunnel and sshd) or undone at the end
(the XID error), so the shared lab stays as other tests expect it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

import httpx
import pytest

from servedeck.app.main_app import ServedeckApp
from servedeck.backends.base import BackendContext
from servedeck.backends.fleet import Fleet
from servedeck.backends.runner import BackendRunner
from servedeck.backends.ssh.backend import TunnelsBackend, TunnelsSettings
from servedeck.backends.ssh.pool import SSHPool
from servedeck.config import load_config
from servedeck.overview.attention import Attention
from servedeck.overview.events import EventFeed
from servedeck.overview.joined import endpoints
from support import PORT_OFFSET

pytestmark = pytest.mark.integration

OWN_WORKER_PORT = 36000 + PORT_OFFSET
TUNNEL_RANGE = (36001 + PORT_OFFSET, 36009 + PORT_OFFSET)


def poll(runners) -> dict:
    return {r.name: r.poll_once(frozenset(p.key for p in r.backend.panes)) or r.snapshot for r in runners}


def attention_until(runners, predicate, *, timeout: float = 45.0, attention: Attention | None = None):
    """Refresh as the cockpit does (each backend at its interval) until the attention
    list satisfies `predicate`; returns (items, refreshes it took)."""
    attention = attention or Attention()
    interval = max(r.backend.interval for r in runners)
    deadline = time.monotonic() + timeout
    refreshes = 0
    while True:
        refreshes += 1
        items = attention.items(poll(runners), time.time())
        if predicate(items):
            return items, refreshes
        if time.monotonic() > deadline:
            raise AssertionError(f"not in the attention list after {refreshes} refreshes: {[(i.rule, i.subject) for i in items]}")
        time.sleep(min(interval, 2.0))


class OwnJob:
    """The lab's SLURM runner, its snapshots narrowed to one job (squeue's real answer)."""

    def __init__(self, runner, job_id: str):
        self.runner, self.job_id = runner, job_id
        self.name, self.backend = runner.name, runner.backend

    def poll_once(self, wanted):
        snap = self.runner.poll_once(wanted) or self.runner.snapshot
        jobs = tuple(j for j in snap.panes.get("jobs", ()) if j.job_id == self.job_id)
        return replace(snap, panes={**snap.panes, "jobs": jobs})

    @property
    def snapshot(self):
        return self.runner.snapshot


@pytest.fixture
def fleet(lab):
    fleet = Fleet.from_config(load_config(str(lab.config_path)))
    yield fleet
    fleet.close()


def slurm_env(lab) -> dict:
    return {**os.environ, **({"SLURM_CONF": lab.slurm_conf} if lab.slurm_conf else {})}


def test_a_cancelled_job_needs_attention(lab, fleet):
    slurm = fleet.by_name("lab-slurm")
    done = subprocess.run(["sbatch", "--parsable", "--job-name", "sd-overview-cancel", "--wrap", "sleep 300"],
                          capture_output=True, text=True, env=slurm_env(lab), timeout=30)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().split(";")[0]
    subprocess.run(["scancel", job_id], env=slurm_env(lab), timeout=30, check=True)
    own = OwnJob(slurm, job_id)  # other tests' cancelled jobs may fill the list: only this one counts
    items, _ = attention_until([own], lambda items: any(i.subject.startswith(f"job {job_id} ") for i in items))
    item = next(i for i in items if i.subject.startswith(f"job {job_id} "))
    assert item.rule == "job_cancelled" and "CANCELLED" in item.why and item.jump.pane == "jobs"


def test_xid_errors_in_the_dcgm_standin_need_attention(lab, fleet):
    prom = fleet.by_name("lab-prometheus")
    dcgm = next(s.url for s in lab.services if s.name == "dcgm")

    def inject(code: int) -> None:
        req = urllib.request.Request(f"{dcgm}/standin/xid?gpu=1&code={code}", method="POST")
        urllib.request.urlopen(req, timeout=5).close()

    inject(79)
    try:
        items, refreshes = attention_until([prom], lambda items: any(i.rule == "gpu_xid" for i in items))
        xid = next(i for i in items if i.rule == "gpu_xid")
        assert xid.subject.endswith("/1") and "XID error 79" in xid.why and xid.severity == "crit"
        assert items[0].severity == "crit"
    finally:
        inject(0)
    attention_until([prom], lambda items: not any(i.rule == "gpu_xid" for i in items))


def test_a_stopped_worker_needs_attention_and_its_removal_is_an_event(lab, fleet, tmp_path):
    router = fleet.by_name("lab-router")
    url = f"http://127.0.0.1:{OWN_WORKER_PORT}"
    proc = subprocess.Popen([sys.executable, "-m", "servedeck.lab.standin_sglang", "--host", "127.0.0.1",
                             "--port", str(OWN_WORKER_PORT), "--model-name", "standin-model"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    feed = EventFeed(tmp_path / "events.jsonl")
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        feed.observe(router.poll_once(frozenset({"workers"})))  # baseline without our worker
        assert router.backend.add_worker(url).ok
        attention = Attention()
        for _ in range(100):  # the router registers a worker asynchronously
            snap = router.poll_once(frozenset({"workers"}))
            if any(w.url == url and w.healthy for w in snap.panes.get("workers", ())):
                break
            time.sleep(0.2)
        feed.observe(snap)
        assert not any(url in i.subject for i in attention.items({router.name: snap}, time.time()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        items, refreshes = attention_until([router], lambda items: any(url in i.subject for i in items),
                                           attention=attention, timeout=60)
        item = next(i for i in items if url in i.subject)
        assert item.rule == "worker_unhealthy" and item.severity == "crit" and item.jump.pane == "workers"
    finally:
        if proc.poll() is None:
            proc.kill()
        rows = router.poll_once(frozenset({"workers"})).panes.get("workers", ())
        removals = [router.backend.perform("worker.remove", row) for row in rows if row.url == url]
    assert removals and all(r.ok for r in removals), [r.message for r in removals]
    for _ in range(100):  # the router removes a worker asynchronously too
        snap = router.poll_once(frozenset({"workers"}))
        if not any(w.url == url for w in snap.panes.get("workers", ())):
            break
        time.sleep(0.2)
    feed.observe(snap)
    kinds = [(e.kind, e.subject) for e in feed.newest()]
    assert ("worker.registered", f"worker {url}") in kinds and ("worker.removed", f"worker {url}") in kinds
    assert [json.loads(line)["kind"] for line in (tmp_path / "events.jsonl").read_text().splitlines()] == \
        [e.kind for e in reversed(feed.newest())]


def test_killing_the_tunnels_ssh_session_needs_attention_and_reconnects(lab, own_sshd):
    pool = SSHPool({"own": own_sshd.host()})
    wport = int(lab.worker_urls[0].rsplit(":", 1)[1])
    backend = TunnelsBackend(TunnelsSettings(name="tun", tunnels=[{"name": "w0", "ssh": "own", "remote": f"127.0.0.1:{wport}"}],
                                             port_ranges=[TUNNEL_RANGE]), BackendContext(extras={"ssh": pool}))
    runner = BackendRunner(backend)
    feed = EventFeed(None)
    try:
        assert backend.open("w0").wait_up(15)
        items, _ = attention_until([runner], lambda items: not items)
        feed.observe(runner.poll_once(frozenset({"tunnels"})))
        own_sshd.stop()  # its sessions (the tunnel's) and the server
        items, refreshes = attention_until([runner], lambda items: any(i.rule == "tunnel_down" for i in items))
        assert refreshes <= 2 and next(i for i in items if i.rule == "tunnel_down").subject.startswith("tunnel w0 ")
        feed.observe(runner.poll_once(frozenset({"tunnels"})))
        own_sshd.start()
        attention_until([runner], lambda items: not items, timeout=60)
        feed.observe(runner.poll_once(frozenset({"tunnels"})))
        kinds = [e.kind for e in reversed(feed.newest())]
        assert kinds[-1] == "tunnel.reconnected" and kinds[0] in ("tunnel.down", "tunnel.reconnecting")
    finally:
        backend.close()
        pool.close()


def test_the_joined_view_matches_the_services_own_answers(lab, fleet):
    from servedeck.lab.services.orchestrator import config_path, deployment

    snaps = fleet.poll_all()
    router_url = next(s.url for s in lab.services if s.name == "router")
    listed = {w["url"] for w in httpx.get(f"{router_url}/workers", timeout=10).json()["workers"]}
    squeue = json.loads(subprocess.run(["squeue", "--json"], capture_output=True, text=True, env=slurm_env(lab),
                                       timeout=30, check=True).stdout)
    running = [j for j in squeue["jobs"] if "RUNNING" in str(j.get("job_state"))]
    port_of_job = {str(j["job_id"]): int(j["comment"].split("=")[1]) for j in running
                   if (j.get("comment") or "").startswith("port=")}
    # the orchestrator's jobs (comment sgorch:...;port=P) behind their tunnels, as it reports them
    tunneled = {w["url"]: w for w in (deployment(config_path(lab.dir)) or {}).get("workers", [])}
    orch_jobs = {str(j["job_id"]) for j in running if (j.get("comment") or "").startswith("sgorch:")}
    dcgm = next(s.url for s in lab.services if s.name == "dcgm")
    metrics = httpx.get(f"{dcgm}/metrics", timeout=10).text
    gpus_of_job: dict[str, set[str]] = {}
    for line in metrics.splitlines():
        if line.startswith("DCGM_FI_DEV_GPU_UTIL{") and 'hpc_job="' in line:
            gpu = line.split('gpu="')[1].split('"')[0]
            gpus_of_job.setdefault(line.split('hpc_job="')[1].split('"')[0], set()).add(gpu)
    rows = {r.id: r for r in endpoints(snaps)}
    checked = through_tunnels = 0
    for url in listed:
        port = int(url.rsplit(":", 1)[1])
        row = rows[f"127.0.0.1:{port}"]
        if url in tunneled:  # the job is the one behind the tunnel's far end
            worker = tunneled[url]
            assert worker["job_id"] in orch_jobs and row.job_id == worker["job_id"], (url, row)
            assert row.tunnel == worker["tunnel"] and row.tunnel_state == "up" and row.links == "ok", row
            through_tunnels += 1
            continue
        jobs = [j for j, p in port_of_job.items() if p == port]
        assert row.job_id == (jobs[0] if jobs else ""), (url, row)
        if jobs:
            checked += 1
            assert {g.split("/")[1] for g in row.gpus.split(", ")} == gpus_of_job[jobs[0]]
            assert row.worker == "lab-router" and row.job_state == "RUNNING"
    assert checked >= 1  # the lab's workers are SLURM jobs with GPUs
    assert through_tunnels == 2  # the orchestrator's deployment, tunneled through the lab's sshd


async def test_cockpit_opens_on_the_overview_with_its_blocks_live(lab, tmp_path):
    app = ServedeckApp(load_config(str(lab.config_path)), events=EventFeed(tmp_path / "events.jsonl"))
    async with app.run_test(size=(200, 50)) as pilot:
        assert app.current_pane == "overview"
        body = app._table("overview")

        def live() -> bool:
            ids = {k: len(body.query_one(f"#ov-{k}").jumps) for k in ("gpus", "serving", "jobs", "workers", "backends")}
            return all(ids.values())
        for _ in range(300):
            if live():
                break
            await pilot.pause(0.1)
        assert live()
        assert {"gpus", "serving", "jobs", "workers", "container_runs"} <= app.visible_panes()
        await pilot.press("enter")  # the first attention item (the lab's helper run warns) or nothing
        if body.items:
            assert app.current_pane == body.items[0].jump.pane


# Panes that fill once something is asked of the lab (the README says so): the autotuner's
# experiments after `tune run`, the sllm models and their Pylet instances after a model is
# registered, a log after `l` on a row.
FILLED_ON_REQUEST = {"experiments", "sllm_models", "pylet_instances", "logs"}
JOINED = {"overview", "backends", "endpoints"}  # drawn from the others


async def test_every_pane_is_live_on_the_lab(lab, tmp_path):
    """The README's claim, pane by pane; the Tunnels and Deployments panes show the
    orchestrator's 2 workers (tunnels up, deployment 2/2 ready) and the Endpoints view
    ties each to its job and tunnel."""
    from servedeck.backends.runner import merge_rows
    from servedeck.lab.services.orchestrator import DEPLOYMENT, REPLICAS

    app = ServedeckApp(load_config(str(lab.config_path)), events=EventFeed(tmp_path / "events.jsonl"))
    async with app.run_test(size=(200, 50)) as pilot:
        async def shown(key: str, check, timeout: float = 30.0):
            app.show_pane(key)
            deadline = time.monotonic() + timeout
            while True:
                entries = merge_rows(app.snapshots, key)
                if check(entries) and app._table(key).total_count:
                    return entries
                if time.monotonic() > deadline:
                    raise AssertionError(f"pane {key}: {entries}"[:2000])
                await pilot.pause(0.2)

        def deployment_ready(entries) -> bool:
            summary = [r for b, r in entries if b == "lab-orchestrator" and r.id == DEPLOYMENT]
            workers = [r for b, r in entries if b == "lab-orchestrator" and r.instance]
            return bool(summary) and (summary[0].ready, summary[0].desired) == (REPLICAS, REPLICAS) and \
                len(workers) == REPLICAS and all(w.phase == "ready" and w.registered for w in workers)
        deps = await shown("deployments", deployment_ready)
        workers = [r for _, r in deps if r.instance]
        assert all(r.tunnel and r.job_id and r.node for r in workers)

        tunnels = await shown("tunnels", lambda entries: len([t for b, t in entries if b == "lab-orchestrator"
                                                              and t.state == "up"]) == REPLICAS)
        assert {t.name for b, t in tunnels if b == "lab-orchestrator"} == {w.tunnel for w in workers}
        assert all(t.mode == "local" and t.ssh.startswith("sgorch-") for b, t in tunnels if b == "lab-orchestrator")

        urls = {f"http://{t.local}" for _, t in tunnels}
        listed = await shown("workers", lambda entries: urls <= {w.url for _, w in entries if w.healthy})
        assert {w.job_id for _, w in listed if w.url in urls} == {w.job_id for w in workers}

        app.show_pane("endpoints")
        for _ in range(150):
            rows = {r.id: r for _, r in app._table("endpoints")._rows.values()}
            tunneled = [r for r in rows.values() if r.tunnel in {w.tunnel for w in workers}]
            if len(tunneled) == REPLICAS and all(r.tunnel_state == "up" and r.job_id for r in tunneled):
                break
            await pilot.pause(0.2)
        assert len(tunneled) == REPLICAS and all(r.links == "ok" for r in tunneled), rows

        empty = []
        for key in app.catalog.keys:
            if key in JOINED | FILLED_ON_REQUEST:
                continue
            try:
                await shown(key, lambda entries: any(app.snapshots[b].state.health.value in ("ok", "degraded")
                                                     for b, _ in entries))
            except AssertionError:
                empty.append(key)
        assert empty == []
        assert FILLED_ON_REQUEST <= set(app.catalog.keys) | {"logs"}
