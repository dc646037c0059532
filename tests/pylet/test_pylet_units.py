"""The Pylet backend over a recorded head (httpx.MockTransport): rows, refusals, down and back, logs."""

from __future__ import annotations

import threading

from pylet_recorded import NOW, RecordedPylet
from servedeck.backends.base import Health, PartialPoll
from servedeck.backends.pylet.backend import PyletBackend, PyletSettings
from servedeck.backends.pylet.links import JumpTo
from servedeck.backends.pylet.logsource import PyletLogSource
from servedeck.backends.runner import BackendRunner

WANTED = frozenset({"pylet_workers", "pylet_instances"})


def panes(b: PyletBackend):
    try:
        return b.poll(WANTED)
    except PartialPoll as exc:  # the recorded head has an OFFLINE worker
        return exc.panes


def backend(head: RecordedPylet) -> PyletBackend:
    return PyletBackend(PyletSettings(name="p", url="http://pylet.test"), transport=head.transport, clock=lambda: NOW)


def test_rows_from_a_recorded_answer():
    runner = BackendRunner(backend(RecordedPylet()))
    snap = runner.poll_once(WANTED)
    assert snap.state.health is Health.DEGRADED and "1 of 2 Pylet workers not online: 0d1f2e3c OFFLINE" in snap.state.message
    online, offline = snap.panes["pylet_workers"]
    # free GPUs come from available_gpu_indices (available_resources.gpu_units is never decremented)
    assert (online.gpus, online.gpus_free, online.free_gpu_indices) == ("1/2", 1, (1,))
    assert online.instances == 2 and offline.instances == 1  # the FAILED one does not count
    assert online.last_seen_at == NOW - 10 and online.memory_bytes == 8 << 30
    rows = {r.name: r for r in snap.panes["pylet_instances"]}
    engine = rows["facebook-opt-125m-163c8539"]
    assert engine.model == "facebook/opt-125m:vllm" and engine.kind == "inference" and engine.gpu_indices == (0,)
    assert engine.in_state_s == 16 and engine.status == "RUNNING"
    store = rows["sllm-store-a64864b7-5752-4904-944c-142a90f4f930"]
    assert store.status == "CANCELLING" and store.state == "RUNNING"  # display_status wins
    failed = rows["facebook-opt-350m-0badc0de"]
    assert (failed.exit_code, failed.failure_reason, failed.gpu_indices) == (1, "Process exited with code 1", ())
    assert failed.in_state_s == 125  # ended 22:04:02
    assert rows["t2"].status == "UNKNOWN" and rows["t2"].in_state_s == 425  # since its last known step
    assert rows["queued-job"].worker == "" and rows["queued-job"].in_state_s == 7


def test_pylet_refusals_are_one_line():
    head = RecordedPylet()
    b = backend(head)
    failed = next(r for r in panes(b)["pylet_instances"] if r.state == "FAILED")
    result = BackendRunner(b).perform("instance.cancel", failed, readonly=False)
    assert not result.ok and result.message == "pylet refused: Instance already in terminal state: FAILED"
    offline = next(w for w in panes(b)["pylet_workers"] if w.status == "OFFLINE")
    result = b.perform("worker.delete", offline)
    assert not result.ok
    assert result.message == "pylet refused to delete worker 0d1f2e3c: it still has instances (delete or cancel them first)"
    online = next(w for w in panes(b)["pylet_workers"] if w.status == "ONLINE")
    assert "Only OFFLINE workers can be deleted" in b.perform("worker.delete", online).message
    assert BackendRunner(b).perform("instance.delete", failed, readonly=True).message.startswith("refused")


def test_links_follow_the_row():
    b = backend(RecordedPylet())
    rows = {r.name: r for r in panes(b)["pylet_instances"]}
    to_worker = b.perform("instance.worker", rows["facebook-opt-125m-163c8539"]).follow_up
    assert to_worker == JumpTo("pylet_workers", "id", "a64864b7-5752-4904-944c-142a90f4f930")
    assert b.perform("instance.model", rows["facebook-opt-125m-163c8539"]).follow_up == \
        JumpTo("sllm_models", "id", "facebook/opt-125m:vllm")
    assert not b.perform("instance.worker", rows["queued-job"]).ok
    assert not b.perform("instance.model", rows["t2"]).ok


def test_down_head_is_down_and_recovers_by_itself():
    head = RecordedPylet()
    runner = BackendRunner(backend(head))
    assert runner.poll_once(WANTED).state.health is Health.DEGRADED
    head.down = True
    snap = runner.poll_once(WANTED)
    assert snap.state.health is Health.DOWN and "pylet head not reachable at http://pylet.test" in snap.state.message
    assert snap.state.hint and len(snap.panes["pylet_instances"]) == 5  # last data kept
    head.down = False
    head.workers = [w for w in head.workers if w["status"] == "ONLINE"]
    assert runner.poll_once(WANTED).state.health is Health.OK
    assert runner.poll_once(frozenset()).state.health is Health.OK  # reachability only: GET /workers
    assert head.requests[-1] == ("GET", "/workers")


def test_log_source_reads_base64_chunks_by_offset_and_tails():
    head = RecordedPylet(logs=b"".join(b"line %d\n" % i for i in range(1, 2001)))
    source = PyletLogSource(b_head := backend(head).head, "caaec224-cce4-4104-b84a-1e2159881884", "pylet/x")
    lines = [e.text for e in source.events(tail=3, follow=False, stop=threading.Event())]
    assert lines == ["line 1998", "line 1999", "line 2000"]
    every = [e.text for e in source.events(tail=-1, follow=False, stop=threading.Event())]
    assert len(every) == 2000 and every[0] == "line 1"
    head.available = 7 * 9  # the first lines were rotated away
    assert [e.text for e in source.events(tail=-1, follow=False, stop=threading.Event())][0] == "line 10"
    b_head.close()


def test_follow_reports_the_end_and_rotation():
    head = RecordedPylet(logs=b"first\nsecond\n")
    failed = "5b0e6c1d-1111-4222-8333-444455556666"  # terminal: following ends after the output
    source = PyletLogSource(backend(head).head, failed, "pylet/failed")
    source.poll_interval = 0.01
    events = list(source.events(tail=-1, follow=True, stop=threading.Event()))
    assert [e.text for e in events if e.kind == "line"] == ["first", "second"]
    assert events[-1].kind == "status" and "instance is FAILED; end of log" in events[-1].text
    head.down = True
    first = next(iter(source.events(tail=-1, follow=False, stop=threading.Event())))
    assert first.kind == "status" and "not reachable" in first.text
