"""Hostile squeue / scontrol output: every parser either returns rows or raises its own
one-line parse error, whatever the text (issue 15, part 3)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servedeck.backends.slurm.parse import (
    SqueueParseError, duration, job_port, json_errors, parse_json, parse_scontrol, parse_text,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
job_fields = st.sampled_from(["job_id", "name", "job_state", "start_time", "end_time", "time_limit",
                              "suspend_time", "array_job_id", "array_task_id", "comment", "command",
                              "nodes", "tres_alloc_str", "gres_detail", "state_reason", "user_name"])
jobs = st.lists(st.dictionaries(job_fields, json_values, max_size=10), max_size=5)


def test_deeply_nested_squeue_json_is_one_parse_error():
    with pytest.raises(SqueueParseError) as info:
        parse_json('{"jobs": ' + "[" * 100_000 + "]" * 100_000 + "}", "c")
    assert "nests deeper than" in str(info.value)
    assert json_errors("[" * 100_000) == []


def test_infinite_and_nan_numbers_are_refused_or_unset():
    with pytest.raises(SqueueParseError):
        parse_json('{"jobs": [{"job_id": 1, "start_time": Infinity}]}', "c")
    (row,) = parse_json(json.dumps({"jobs": [{"job_id": 1, "job_state": "RUNNING", "start_time": 1e300,
                                               "time_limit": {"set": True, "number": 1e300}}]}), "c", now=0)
    assert row.job_id == "1"


@settings(max_examples=200, deadline=None)
@given(doc=st.fixed_dictionaries({"jobs": jobs}) | json_values)
def test_property_any_squeue_json_gives_rows_or_a_parse_error(doc):
    try:
        rows = parse_json(json.dumps(doc), "c", now=1_700_000_000)
    except SqueueParseError as exc:
        assert "\n" not in str(exc)
        return
    assert len(rows) <= len(doc["jobs"])


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400))
def test_property_any_squeue_text_gives_rows_or_a_parse_error(text):
    try:
        parse_text(text, "c")
    except SqueueParseError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400))
def test_property_scontrol_and_ports_never_raise(text):
    assert isinstance(parse_scontrol(text), dict)
    port = job_port(text, text)
    assert port is None or 0 < port < 65536
    try:
        duration(text)
    except ValueError:
        pass  # parse_text maps it to SqueueParseError
