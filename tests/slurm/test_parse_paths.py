"""squeue --json has two paths (backends/slurm/parse.py): the typed fast one for documents
of the usual shape and the generic one for anything else. They give the same rows."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servedeck.backends.rows import JobRow
from servedeck.backends.slurm import parse as slurm_parse

DATA = Path(__file__).parent / "data"
NOW = 1_700_000_600

numbers = st.one_of(st.none(), st.integers(min_value=-5, max_value=2**32 + 5),
                    st.sampled_from([0, 0xFFFFFFFF, 0xFFFFFFFE]), st.floats(allow_nan=False, allow_infinity=False),
                    st.fixed_dictionaries({}, optional={"set": st.booleans(), "infinite": st.booleans(),
                                                        "number": st.one_of(st.none(), st.integers(-5, 2**33))}))
texts = st.one_of(st.none(), st.sampled_from(["", "None", "Priority", "port=30001", "gres/gpu:a100:2",
                                               "cpu=8,gres/gpu=4", "run --port 8000", "gpu01"]), st.text(max_size=8))
states = st.one_of(st.none(), st.sampled_from(["RUNNING", "PENDING", "COMPLETING", "FAILED", ""]),
                   st.lists(st.sampled_from(["RUNNING", "PENDING", "COMPLETED", "END_JOB"]), max_size=2))
job = st.fixed_dictionaries({}, optional={
    "job_id": st.one_of(st.integers(0, 10**6), st.text(max_size=6)),
    "job_state": states,
    **{f: numbers for f in ("start_time", "end_time", "suspend_time", "time_limit", "array_task_id", "array_job_id")},
    **{f: texts for f in ("state_reason", "comment", "command", "name", "user_name", "partition", "nodes",
                          "tres_alloc_str", "tres_req_str", "tres_per_node", "tres_per_job")},
    "user_id": st.one_of(st.none(), st.integers(0, 1000)),
    "gres_detail": st.one_of(st.none(), st.lists(texts.filter(lambda t: t is not None), max_size=2)),
    "job_resources": st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),  # a field nobody reads
})


def both(text: str):
    fast = slurm_parse.parse_json(text, "c", now=NOW)
    generic = slurm_parse._parse_any_json(text, "c", NOW)
    return fast, generic


def test_both_generations_of_real_shaped_output_give_the_same_rows():
    for name in ("squeue_22.05.json", "squeue_23.11.json"):
        fast, generic = both((DATA / name).read_text())
        assert fast == generic and len(fast) == 3


@settings(max_examples=300, deadline=None)
@given(jobs=st.lists(job, max_size=6))
def test_property_the_fast_and_the_generic_path_agree(jobs):
    fast, generic = both(json.dumps({"meta": {"plugin": {}}, "errors": [], "jobs": jobs}))
    assert fast == generic


def test_deep_nesting_in_a_field_nobody_reads_is_still_one_parse_error_or_rows():
    deep = '{"jobs": [{"job_id": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}]}"
    try:
        rows = slurm_parse.parse_json(deep, "c")
    except slurm_parse.SqueueParseError as exc:
        assert "nests deeper than" in str(exc)
    else:
        assert [r.job_id for r in rows] == ["1"]


def test_the_fast_path_gives_real_job_rows():
    """The fast path makes its rows without JobRow's `__init__` (rows.JobRowDraft): they
    are JobRows all the same, equal and hashed as keyword-built ones, frozen, replaceable."""
    rows = slurm_parse.parse_json((DATA / "squeue_23.11.json").read_text(), "prod", now=NOW)
    built = [JobRow(**{f.name: getattr(r, f.name) for f in dataclasses.fields(JobRow)}) for r in rows]
    assert [type(r) for r in rows] == [JobRow] * 3
    assert list(rows) == built and {hash(r) for r in rows} == {hash(r) for r in built}
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].state = "FAILED"
    assert dataclasses.replace(rows[0], state="FAILED").state == "FAILED"
    assert vars(rows[0]) == vars(built[0])
