"""Email notifications through a real SMTP server on loopback (aiosmtpd): one mail per
event the seed names, with the event in the subject; a dead SMTP server never stalls or
stops the engine (issue 15, part 5)."""

from __future__ import annotations

import socket
import time

import pytest
from aiosmtpd.controller import Controller

from servedeck.orchestrator import policy
from servedeck.orchestrator.config import SGOrchConfig
from servedeck.orchestrator.engine import Engine
from servedeck.orchestrator.state import STARTING, UNHEALTHY, Worker
from test_service import FailingSubmits


class Inbox:
    def __init__(self):
        self.mails: list = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def config(tmp_path, smtp_host: str) -> SGOrchConfig:
    return SGOrchConfig.model_validate({
        "orchestrator": {"state_dir": str(tmp_path / "state"), "metrics": {"port": 0},
                         "notifications": {"type": "email", "email": {
                             "smtp_host": smtp_host, "from_addr": "sgorch@lab.test",
                             "to_addrs": ["ops@lab.test", "oncall@lab.test"], "timeout_s": 3}}},
        "deployments": [{"name": "d", "replicas": 1, "backend": {"type": "tei", "model_id": "m"},
                         "slurm": {"log_dir": str(tmp_path / "logs")},
                         "policy": {"circuit_breaker_failures": 1, "restart_backoff_s": 0}}],
    })


def _subjects(inbox: Inbox, n: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(inbox.mails) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return [m.content.decode().split("Subject: ", 1)[1].splitlines()[0] for m in inbox.mails]


def test_each_seed_event_is_mailed_to_every_recipient(tmp_path, smtp):
    controller, inbox = smtp
    cfg = config(tmp_path, f"127.0.0.1:{controller.port}")
    engine = Engine(cfg, slurm=FailingSubmits())  # type: ignore[arg-type]
    dep = cfg.deployments[0]
    try:
        engine.run_pass(force=True)  # sbatch fails: a replacement failed
        s = engine.state.deployment("d")
        w = Worker(instance_id="w1", port=31000, phase=STARTING, phase_since=time.time(), job_id="42")
        s.workers["w1"] = w
        mark = s.seq
        s.note(w, UNHEALTHY, "3 failed probes (HTTP 500)")
        engine._log_timeline(dep, s, mark)  # a worker unhealthy
        breaker, blacklist = s.breaker_open_until, set(s.blacklist)
        policy.record_failure(s, dep.policy, time.time(), "unhealthy")  # opens the breaker (1 failure)
        policy.blacklist(s, "node7", dep.policy, time.time())
        engine._notify(dep, s, breaker, blacklist)
        subjects = _subjects(inbox, 4)
    finally:
        engine.close()
    assert subjects == ["[sgorch] d: replacement failed", "[sgorch] d: worker unhealthy",
                        "[sgorch] d: circuit open", "[sgorch] d: node blacklisted"]
    first = inbox.mails[0]
    assert first.mail_from == "sgorch@lab.test" and first.rcpt_tos == ["ops@lab.test", "oncall@lab.test"]
    assert "Invalid account" in first.content.decode()


def test_a_dead_smtp_server_is_logged_and_the_engine_goes_on(tmp_path):
    cfg = config(tmp_path, f"127.0.0.1:{_free_port()}")  # nothing listens there
    slurm = FailingSubmits()
    engine = Engine(cfg, slurm=slurm)  # type: ignore[arg-type]
    try:
        engine.run_pass(force=True)
        assert engine.notifier.flush(10)
        assert engine.notifier.failed == 1 and engine.notifier.sent == 0
        engine.run_pass(force=True)  # and the engine keeps reconciling
    finally:
        engine.close()
    assert slurm.submits >= 1
