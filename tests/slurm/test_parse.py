"""squeue output of both JSON generations and the text fallback becomes the same rows.

`data/squeue_22.05.json` is real output of SLURM 22.05.8 (the lab's); `data/squeue_23.11.json`
is written by hand in the 23.11+ shape (job_state lists, {set, infinite, number} times),
since no 23.11 runs here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servedeck.backends.slurm import parse as slurm_parse
from servedeck.backends.rows import JobRow

DATA = Path(__file__).parent / "data"


def rows_by_id(rows):
    return {r.job_id: r for r in rows}


def test_22_05_shape():
    doc = json.loads((DATA / "squeue_22.05.json").read_text())
    start = next(j for j in doc["jobs"] if j["job_id"] == 1)["start_time"]
    rows = rows_by_id(slurm_parse.parse_json(json.dumps(doc), "lab", now=start + 90))
    running = rows["1"]
    assert running == JobRow(
        cluster="lab", job_id="1", name="a;b $(x) |q", user="root", state="RUNNING",
        partition="debug", node=running.node, elapsed_s=90, time_left_s=30 * 60 - 90,
        reason="", gpus=2,
    )
    assert running.node  # the lab's hostname
    pending = rows["2"]
    assert (pending.state, pending.reason, pending.elapsed_s, pending.time_left_s, pending.node) == (
        "PENDING", "Resources", None, None, "")
    assert pending.gpus == 8  # from tres_per_node "gres:gpu:8"


def test_23_11_shape():
    rows = rows_by_id(slurm_parse.parse_json((DATA / "squeue_23.11.json").read_text(), "prod", now=1700000600))
    running = rows["41"]
    assert running.name == "sglang-llama | worker's \"0\""
    assert (running.state, running.node, running.elapsed_s, running.time_left_s, running.gpus) == (
        "RUNNING", "gpu-node-07", 600, 3000, 4)
    pending = rows["42"]
    assert (pending.state, pending.reason, pending.time_left_s, pending.gpus) == ("PENDING", "Resources", None, 2)
    array_task = rows["43_7"]  # array tasks are addressed as ARRAY_TASK
    assert (array_task.state, array_task.elapsed_s, array_task.gpus) == ("COMPLETING", 90, None)


@pytest.mark.parametrize("value, expected", [
    (5, 5), ({"set": True, "infinite": False, "number": 5}, 5), ({"set": False, "number": 5}, None),
    ({"set": True, "infinite": True, "number": 0}, None), (None, None), (0xFFFFFFFF, None), (0xFFFFFFFE, None),
])
def test_number_accepts_both_generations(value, expected):
    assert slurm_parse.number(value) == expected


def test_errors_listed_in_json_are_found():
    text = json.dumps({"errors": [{"description": "Failed to load job info", "error_number": 1}], "jobs": []})
    assert slurm_parse.json_errors(text) == ["Failed to load job info"]


def test_invalid_json_is_a_parse_error():
    with pytest.raises(slurm_parse.SqueueParseError):
        slurm_parse.parse_json("squeue: error: something", "lab")
    with pytest.raises(slurm_parse.SqueueParseError):
        slurm_parse.parse_json('{"meta": {}}', "lab")


def test_text_fallback_real_lines():
    # Real `squeue -h -o '%i|%P|%j|%u|%T|%M|%l|%D|%R'` output of SLURM 22.05.8.
    text = ("2|debug|big|root|PENDING|0:00|UNLIMITED|1|(Resources)\n"
            "3|debug|big2|root|PENDING|0:00|UNLIMITED|1|(Priority)\n"
            "1|debug|a;b $(x) |q|root|RUNNING|0:02|30:00|1|vm\n"
            "7|gpu|long|ann|RUNNING|1-02:03:04|2-00:00:00|2|node[01-02]\n")
    rows = rows_by_id(slurm_parse.parse_text(text, "lab"))
    assert rows["1"].name == "a;b $(x) |q"  # a '|' inside the name survives
    assert (rows["1"].elapsed_s, rows["1"].time_left_s, rows["1"].node, rows["1"].gpus) == (2, 1798, "vm", None)
    assert (rows["2"].reason, rows["2"].node, rows["2"].elapsed_s, rows["2"].time_left_s) == ("Resources", "", None, None)
    assert rows["7"].elapsed_s == 86400 + 2 * 3600 + 3 * 60 + 4
    assert rows["7"].time_left_s == 2 * 86400 - rows["7"].elapsed_s
    assert rows["7"].node == "node[01-02]"


def test_text_fallback_rejects_garbage():
    with pytest.raises(slurm_parse.SqueueParseError):
        slurm_parse.parse_text("not|squeue\n", "lab")


@pytest.mark.parametrize("fields, expected", [
    (("cpu=1,gres/gpu=4",), 4), (("", "gres:gpu:2"), 2), (("gres/gpu:a100:3",), 3),
    ((["gpu:2(IDX:0-1)"],), 2), (("cpu=1,gres/gpumem=1024",), None), ((None, ""), None),
])
def test_gpu_counts(fields, expected):
    assert slurm_parse.gpus(*fields) == expected


def test_partition_filter():
    rows = slurm_parse.parse_json((DATA / "squeue_23.11.json").read_text(), "prod", now=1700000600)
    assert {r.job_id for r in slurm_parse.filter_partition(rows, "cpu")} == {"43_7"}
    assert len(slurm_parse.filter_partition(rows, None)) == 3
