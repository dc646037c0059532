"""sbatch rendering with hostile values, the state file, the control socket, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import stat
import subprocess
import sys

import pytest

from servedeck import secrets
from servedeck.orchestrator import logging_json, sbatch
from servedeck.orchestrator.config import Deployment
from servedeck.orchestrator.control import ControlError, ControlServer, request
from servedeck.orchestrator.state import State, StateStore, Worker

HOSTILE = ["--model-name", "x; touch /tmp/pwned $(id) `id` 'q\" |&> *", "--port", "{PORT}", "$HOME", "a\nb"]


def hostile_dep(**extra) -> Deployment:
    return Deployment.model_validate({
        "name": "hostile-dep", "replicas": 1, "router": {"base_url": "http://127.0.0.1:1"},
        "slurm": {"account": "acct", "partition": "p1", "gres": "gpu:1", "time_limit": "01:00:00", "qos": "q",
                  "constraint": "h100&ib", "reservation": "r", "cpus_per_task": 4, "mem": "8G",
                  "log_dir": "/tmp/with space/logs", "env": {"HF_HOME": "/x y/$(id)", "TOKEN_X": "a'b"},
                  "sbatch_extra": ["--signal=B:TERM@60"], "pre_commands": ["module load cuda"]},
        "sglang": {"command": ["/opt/venv/bin/python", "-m", "sglang.launch_server"], "args": HOSTILE},
        **extra,
    })


def test_script_has_every_option_and_quotes_every_value():
    script = sbatch.render(hostile_dep(), "abc123", 31001, exclude=["n2", "n1"])
    for line in ("#SBATCH --job-name=sgorch-hostile-dep", "#SBATCH --comment=sgorch:dep=hostile-dep;iid=abc123;port=31001",
                 '#SBATCH --output="/tmp/with space/logs/sgorch-hostile-dep-%j.out"', "#SBATCH --account=acct",
                 "#SBATCH --partition=p1", "#SBATCH --gres=gpu:1", "#SBATCH --time=01:00:00", "#SBATCH --qos=q",
                 "#SBATCH --constraint=h100&ib", "#SBATCH --reservation=r", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --mem=8G", "#SBATCH --exclude=n1,n2", "#SBATCH --signal=B:TERM@60", "module load cuda",
                 "#SBATCH --no-requeue"):
        assert line in script.splitlines(), line
    launch = script[script.index("/opt/venv/bin/python -m"):script.index(" &\nworker=")]
    expected = ["/opt/venv/bin/python", "-m", "sglang.launch_server"] + [a.replace("{PORT}", "31001") for a in HOSTILE]
    assert shlex.split(launch) == expected  # bash sees exactly these words
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def test_hostile_values_reach_the_program_literally(tmp_path):
    """Run the rendered body with a printing 'worker': every argument and env value arrives as written."""
    dep = hostile_dep(sglang={"command": [sys.executable, "-c",
                                          "import json,os,sys; print(json.dumps([sys.argv[1:], os.environ['HF_HOME']]))"],
                              "args": HOSTILE})
    script = sbatch.render(dep, "i1", 5).replace("module load cuda", "true")
    body = script.split("until ", 1)[0] + 'wait "$worker"\n'
    out = subprocess.run(["bash", "-c", body], capture_output=True, text=True, cwd=tmp_path, timeout=30).stdout
    args, hf_home = json.loads(out.splitlines()[-1])
    assert args == [a.replace("{PORT}", "5") for a in HOSTILE] and hf_home == "/x y/$(id)"


def test_markers_round_trip():
    c = sbatch.comment("d-1", "abc", 31000)
    assert sbatch.parse_comment(f"x {c}") == sbatch.Marker("d-1", "abc", 31000)
    assert sbatch.parse_comment("port=1") is None
    assert sbatch.ready_in_log("noise\nSGORCH_READY instance=abc port=31000 host=n\n", "abc")
    assert not sbatch.ready_in_log("SGORCH_READY instance=abcd port=1 host=n\n", "abc")


def test_state_round_trip_is_atomic_and_private(tmp_path):
    store = StateStore(tmp_path / "s" / "state.json")
    assert store.load().deployments == {}
    state = State()
    d = state.deployment("a")
    w = Worker("i1", 31000, job_id="9")
    d.workers["i1"] = w
    d.note(w, "pending", "submitted", 5.0)
    store.save(state)
    loaded = store.load()
    assert loaded.deployment("a").workers["i1"] == w and loaded.deployment("a").timeline[0].reason == "submitted"
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert sorted(os.listdir(store.path.parent)) == ["state.json"]  # no temp file left behind
    store.path.write_text("{ torn")
    with pytest.raises(Exception) as info:
        store.load()
    assert "corrupt" in str(info.value)


class _OtherDocument:
    """A state of another shape saved through the same store (the autotuner's has no
    `deployments`)."""

    def __init__(self, doc):
        self.doc = doc

    def to_json(self):
        return self.doc


def test_a_document_of_another_shape_is_saved_every_time_it_changes(tmp_path):
    store = StateStore(tmp_path / "tuner.json")
    for doc in ({"version": 1, "experiments": [{"id": "e1", "phase": "pending"}]},
                {"version": 1, "experiments": [{"id": "e1", "phase": "active"}]},
                {"version": 1, "deployments": ["not", "a", "mapping"]}):
        store.save(_OtherDocument(doc))  # type: ignore[arg-type]
        assert json.loads(store.path.read_text()) == doc


def test_a_change_beyond_probe_streaks_is_saved_at_once(tmp_path):
    store = StateStore(tmp_path / "state.json")
    state = State()
    w = Worker("i1", 31000, job_id="9", phase="starting")
    state.deployment("a").workers["i1"] = w
    store.save(state)
    w.ok_streak = 1  # a probe streak alone may wait for a later save
    store.save(state)
    w.phase, w.registered = "ready", True
    store.save(state)
    saved = store.load().deployment("a").workers["i1"]
    assert (saved.phase, saved.registered, saved.ok_streak) == ("ready", True, 1)


def test_control_socket_is_owner_only_and_answers(tmp_path):
    seen = []

    def handler(req):
        seen.append(req)
        return {"ok": True, "message": "hi", "echo": req.get("cmd")}

    server = ControlServer(tmp_path / "c.sock", handler)
    server.start()
    try:
        assert stat.S_IMODE(os.stat(tmp_path / "c.sock").st_mode) == 0o600
        assert request(tmp_path / "c.sock", {"cmd": "status"})["echo"] == "status"
        import socket

        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(tmp_path / "c.sock"))
            sock.sendall(b"not json\n")
            assert json.loads(sock.makefile().readline())["ok"] is False
    finally:
        server.stop()
    with pytest.raises(ControlError):
        request(tmp_path / "c.sock", {"cmd": "status"})
    assert seen == [{"cmd": "status"}]


def test_json_logs_have_the_seed_fields_and_no_secrets():
    secrets.register("sup3r-secret-token")
    stream = io.StringIO()
    logging_json.setup("INFO", stream)
    logging_json.log("worker_ready", "ready with sup3r-secret-token", deployment="d", job_id="7",
                     worker_url="http://n:1")
    line = json.loads(stream.getvalue())
    assert set(line) == {"ts", "level", "msg", "deployment", "job_id", "worker_url", "event"}
    assert line["ts"].endswith("Z") and line["level"] == "INFO" and "sup3r" not in line["msg"]
    logging.getLogger(logging_json.LOGGER).handlers.clear()


def test_orchestrator_modules_import_without_textual():
    code = ("import sys, pkgutil, importlib, servedeck.orchestrator as o, servedeck.verbs.orchestrate, "
            "servedeck.backends.orchestrator.backend\n"
            "for m in pkgutil.iter_modules(o.__path__): importlib.import_module('servedeck.orchestrator.' + m.name)\n"
            "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cockpit_config_accepts_an_orchestrator_target():
    from servedeck.config import load_text

    loaded = load_text("backends:\n  orchestrator:\n    - name: sgorch\n      socket: /tmp/x.sock\n", "c.yaml")
    (target,) = loaded.targets
    assert target.kind == "orchestrator" and target.settings.socket == "/tmp/x.sock"


def test_deployment_rows_and_timeline_text():
    from servedeck.backends.orchestrator.backend import rows, timeline_text

    doc = {"deployments": [{
        "name": "d", "desired": 2, "ready": 1, "unhealthy": 1, "paused": False, "breaker": "open", "mode": "direct",
        "blacklist": {"n1": 30.0},
        "workers": [{"instance_id": "i1", "job_id": "7", "node": "n2", "port": 31000, "tunnel": "", "ok_streak": 0,
                     "fail_streak": 2, "registered": True, "phase": "ready", "retiring": True, "phase_since": 5.0,
                     "reason": "walltime"}],
        "timeline": [{"ts": 5.0, "instance_id": "i1", "job_id": "7", "phase": "ready", "reason": "2 healthy probes"}],
    }]}
    summary, worker = rows(doc)
    assert (summary.desired, summary.ready, summary.unhealthy) == (2, 1, 1)
    assert "breaker open" in summary.reason and "n1" in summary.reason
    assert (worker.id, worker.streak, worker.phase, worker.phase_at) == ("d/i1", "2 failed", "ready (retiring)", 5.0)
    assert "2 healthy probes" in timeline_text(doc["deployments"][0])


class CannedRunner:
    """A CommandRunner that answers from a table (argv -> CommandResult)."""

    where = "locally"

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def run(self, argv, timeout):
        from servedeck.backends.ssh.pool import CommandResult

        self.calls.append(list(argv))
        rc, out = self.answers.get(" ".join(argv), (1, ""))
        return CommandResult(rc, out, "" if rc == 0 else "squeue: unrecognized option '--json'")


def test_squeue_json_and_text_fallback_read_markers():
    from servedeck.orchestrator.adapters import SlurmCLI

    job = {"job_id": 42, "name": "sgorch-d", "job_state": ["RUNNING"], "nodes": "n1", "comment":
           "sgorch:dep=d;iid=abc;port=31000", "time_limit": {"set": True, "infinite": False, "number": 10},
           "start_time": {"set": True, "infinite": False, "number": 0}}
    other = {**job, "job_id": 43, "name": "someone-else", "comment": ""}
    cli = SlurmCLI(CannedRunner({"squeue --me --json": (0, json.dumps({"jobs": [job, other]}))}))
    (found,) = cli.jobs("sgorch-")
    assert (found.job_id, found.state, found.node, found.marker) == ("42", "RUNNING", "n1", sbatch.Marker("d", "abc", 31000))
    text = "42|sgorch-d|RUNNING|n1|5:00|sgorch:dep=d;iid=abc;port=31000;rport=30001\n7|x|PENDING||1:00:00|\n"
    runner = CannedRunner({"squeue --me -h -o %i|%j|%T|%N|%L|%k": (0, text)})
    cli = SlurmCLI(runner)
    (found,) = cli.jobs("sgorch-")
    assert (found.job_id, found.time_left_s, found.marker.rport) == ("42", 300, 30001)
    cli.jobs("sgorch-")
    assert runner.calls.count(["squeue", "--me", "--json"]) == 1  # the text form from then on
