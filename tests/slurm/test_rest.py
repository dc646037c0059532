"""SLURM through slurmrestd: JWT headers (httpx.MockTransport: Debian's SLURM has no
auth/jwt to test them for real), and the real slurmrestd of the lab (local auth on a unix
socket) for jobs, cancel, and `prefer: auto` falling back to the CLI."""

from __future__ import annotations

import httpx
import pytest

from servedeck.backends.base import BackendContext, BackendError, Health
from servedeck.backends.runner import BackendRunner
from servedeck.backends.slurm.backend import SlurmBackend, SlurmSettings
from servedeck.backends.slurm.rest import SlurmRest
from ssh_support import until

JOBS_2205 = {"meta": {}, "errors": [], "jobs": [{
    "job_id": 5, "name": "w;$(x)", "user_name": "alice", "job_state": "RUNNING", "partition": "gpu",
    "nodes": "gpu01", "start_time": 1000, "end_time": 0, "time_limit": 60, "state_reason": "None",
    "comment": "port=8000", "tres_req_str": "gres/gpu=2"}]}


def mock(seen: list[httpx.Request], token_ok: str = "tok-1"):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("X-SLURM-USER-TOKEN") != token_ok:
            return httpx.Response(401, text="Authentication failure")
        if request.url.path == "/slurm/v0.0.38/jobs":
            return httpx.Response(200, json=JOBS_2205)
        if request.method == "DELETE" and request.url.path == "/slurm/v0.0.38/job/5":
            return httpx.Response(200, json={"errors": []})
        if request.method == "DELETE":
            return httpx.Response(500, json={"errors": [{"error": "Invalid job id specified"}]})
        return httpx.Response(404)
    return httpx.MockTransport(handler)


def test_jwt_from_env_then_from_scontrol_token(monkeypatch):
    seen: list[httpx.Request] = []
    monkeypatch.setenv("SD_TEST_JWT", "tok-1")
    rest = SlurmRest("http://rest:6820", cluster="c", user="alice", token_env="SD_TEST_JWT", transport=mock(seen))
    rows = rest.jobs()
    assert (rows[0].job_id, rows[0].name, rows[0].port, rows[0].gpus) == ("5", "w;$(x)", 8000, 2)
    assert seen[-1].headers["X-SLURM-USER-NAME"] == "alice"
    assert rest.cancel("5") == (True, "")
    ok, why = rest.cancel("6")
    assert not ok and "Invalid job id" in why

    monkeypatch.delenv("SD_TEST_JWT")
    asked: list[int] = []
    rest = SlurmRest("http://rest:6820", cluster="c", token_env="SD_TEST_JWT", transport=mock(seen),
                     fetch_token=lambda lifespan: asked.append(lifespan) or "tok-1")
    rest.jobs()
    rest.jobs()
    assert len(asked) == 1  # fetched once, reused until it nears expiry


def test_refused_token_is_one_line_without_the_token(monkeypatch):
    monkeypatch.setenv("SD_TEST_JWT", "wrong-secret")
    rest = SlurmRest("http://rest:6820", cluster="c", token_env="SD_TEST_JWT", transport=mock([]))
    with pytest.raises(BackendError) as err:
        rest.jobs()
    assert "refused the token" in err.value.message and "wrong-secret" not in err.value.message
    monkeypatch.delenv("SD_TEST_JWT")
    with pytest.raises(BackendError) as err:
        SlurmRest("http://rest:6820", cluster="c", token_env="SD_TEST_JWT", transport=mock([])).jobs()
    assert "SD_TEST_JWT" in err.value.message


@pytest.mark.integration
def test_real_slurmrestd_jobs_cancel_and_auto_fallback(lab, pool):
    restd = lab.service("slurmrestd")
    assert restd is not None and restd.url, "the lab did not start slurmrestd"
    ctx = BackendContext(extras={"ssh": pool})
    rest = SlurmBackend(SlurmSettings(name="lab-slurm", ssh="lab", prefer="rest", rest_url=restd.url), ctx)
    runner = BackendRunner(rest)
    assert runner.poll_once(frozenset()).state.health is Health.OK
    done = pool.run("lab", ["sbatch", "--parsable", "--job-name", "sd-rest", "--output", "/dev/null",
                            "--wrap", "sleep 300"], timeout=30)
    job_id = done.stdout.strip().split(";")[0]
    try:
        row = until(lambda: next((r for r in runner.poll_once(frozenset({"jobs"})).panes.get("jobs", ())
                                  if r.job_id == job_id), None))
        assert row.name == "sd-rest" and row.cluster == "lab-slurm"
        result = rest.cancel(job_id)
        assert result.ok, result.message
        until(lambda: rest.job_state(job_id) in ("CANCELLED", ""))
    finally:
        pool.run("lab", ["scancel", job_id], timeout=30)
        rest.close()
    # auto: slurmrestd gone -> the CLI over ssh answers instead; rest: the outage is the state
    missing = "unix:///nonexistent/slurmrestd.sock"
    auto = BackendRunner(SlurmBackend(SlurmSettings(name="a", ssh="lab", prefer="auto", rest_url=missing), ctx))
    snap = auto.poll_once(frozenset({"jobs"}))
    assert snap.state.health is Health.OK and any(r.job_id == job_id for r in snap.panes["jobs"])
    strict = BackendRunner(SlurmBackend(SlurmSettings(name="r", ssh="lab", prefer="rest", rest_url=missing), ctx))
    state = strict.poll_once(frozenset({"jobs"})).state
    assert state.health is Health.DOWN and "slurmrestd not reachable" in state.message
