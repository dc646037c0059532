"""Turns squeue output into JobRows: JSON of every generation, and the text fallback.

`squeue --json` changed shape between releases: 22.05 gives `job_state` as a string and
times as integers; 23.11+ gives `job_state` as a list and times as
`{set, infinite, number}` objects. Both are accepted field by field, so a mix (as seen
in 23.02) also parses. Without JSON support, `squeue -h -o TEXT_FORMAT` is parsed.

A large cluster's document is tens of MB (a real job has ~110 fields; servedeck reads
21). msgspec decodes it straight into `_Job` structs of those fields, skipping the rest
without building them (its own recursion guard covers what it skips), so there is no
whole-document depth walk; a document of any other shape (a field of an unexpected type,
invalid JSON) goes through the generic path (orjson, the depth cap, field-by-field
tolerance) and gives what it always gave. The generic path builds each row with `_row`;
the fast one with `_rows_of`, one loop over all the structs (a function call per job is
~10 ms at 50,000 jobs); a property test checks the two agree on any document.
"""

from __future__ import annotations

import math
import re
import time
from functools import lru_cache
from typing import Any, Iterable, List, Optional, Tuple, Union

import msgspec
import orjson
from msgspec.structs import astuple

from servedeck import bounded
from servedeck.backends.rows import JobRow, JobRowDraft, job_rows
from servedeck.collector import collector_paused

# squeue --json is ~3 kB per job: 256 MB is ~80,000 jobs; beyond it, refuse rather than swap.
MAX_SQUEUE_BYTES = 256 * bounded.MIB

TEXT_FORMAT = "%i|%P|%j|%u|%T|%M|%l|%D|%R"
_TEXT_FIELDS = 9
# SLURM's INFINITE and NO_VAL sentinels for 32-bit fields.
_SENTINELS = (0xFFFFFFFF, 0xFFFFFFFE)
_GPU_COUNT = re.compile(r"gpu(?::[\w.\-]+)?[:=](\d+)")
_FINISHED = {"COMPLETED", "COMPLETING", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL",
             "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}


class SqueueParseError(ValueError):
    """squeue printed something this parser does not understand."""


def number(value: Any) -> int | None:
    """An integer field of any generation; None when unset, infinite or a sentinel."""
    kind = type(value)
    if kind is int:  # the common cases first: this runs for several fields of every job
        return None if value in _SENTINELS or value < 0 else value
    if kind is _SetNumber:  # 23.11's {set, infinite, number}, as the fast path decodes it
        if not value.set or value.infinite:
            return None
        value = value.number
        if type(value) is int:
            return None if value in _SENTINELS or value < 0 else value
    elif isinstance(value, dict):  # the same, as the generic path decodes it
        if not value.get("set", True) or value.get("infinite", False):
            return None
        value = value.get("number")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        value = int(value)
        return None if value in _SENTINELS or value < 0 else value
    return None


def state(value: Any) -> str:
    """`"RUNNING"` (22.05) or `["RUNNING", "COMPLETING"]` (23.11+) -> the first state."""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value or "")


def gpus(*fields: Any) -> int | None:
    """GPU count from the first tres/gres string that mentions gpus; None if none says."""
    for field in fields:
        if isinstance(field, (list, tuple)):  # JSON gives lists; the fast path tuples (hashable)
            field = ",".join(str(x) for x in field)
        if not field or not isinstance(field, str):
            continue
        count = _gpu_count(field)
        if count is not None:
            return count
    return None


@lru_cache(maxsize=4096)
def _gpu_count(field: str) -> int | None:
    """Cached: a fleet's jobs share a handful of tres strings."""
    counts = [int(m) for m in _GPU_COUNT.findall(field)]
    return max(counts) if counts else None  # "gres/gpu=2,gres/gpu:a100=2" names the same gpus twice


# -- squeue --json ---------------------------------------------------------------------

class _SetNumber(msgspec.Struct, gc=False):
    """23.11's {set, infinite, number}; `number` reads it as it reads the same dict."""

    set: bool = True
    infinite: bool = False
    number: Union[int, float, None] = None


# A time or count: an integer (22.05), {set, infinite, number} (23.11+), or unset.
_Number = Union[int, float, _SetNumber, None]
_Text = Optional[str]
_Gres = Union[str, Tuple[str, ...], None]  # a tuple, not a list: `_gpus_cached` hashes it


class _Job(msgspec.Struct, gc=False):
    """The fields of one squeue job that servedeck reads (unknown fields are skipped).
    Defaults are what `dict.get` gives the generic path for a missing field. The fields
    are in the order squeue prints them (tests/slurm/data/squeue_22.05.json): msgspec
    looks for each key from the field after the last one it matched."""

    array_job_id: _Number = None
    array_task_id: _Number = None
    command: _Text = None
    comment: _Text = None
    end_time: _Number = None
    gres_detail: _Gres = None
    job_id: Union[int, str] = ""
    job_state: Union[str, List[str], None] = None
    name: _Text = None
    nodes: _Text = None
    partition: _Text = None
    start_time: _Number = None
    state_reason: _Text = None
    suspend_time: _Number = None
    time_limit: _Number = None
    tres_per_job: _Gres = None
    tres_per_node: _Gres = None
    tres_req_str: _Gres = None
    tres_alloc_str: _Gres = None
    user_id: Union[int, str, None] = None
    user_name: _Text = None


class _Squeue(msgspec.Struct, gc=False):
    jobs: List[_Job]


_DECODER = msgspec.json.Decoder(_Squeue)


def parse_json(text: str, cluster: str, now: float | None = None) -> tuple[JobRow, ...]:
    """Rows from `squeue --json` output of any supported generation."""
    try:
        bounded.check_size(len(text), MAX_SQUEUE_BYTES, "squeue --json output")
    except bounded.InputRejected as exc:
        raise SqueueParseError(str(exc)) from None
    now = time.time() if now is None else now
    with collector_paused():
        try:
            doc = _DECODER.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return _parse_any_json(text, cluster, now)  # not the usual shape: field by field
        return _rows_of(doc.jobs, cluster, int(now))


def _rows_of(jobs: List[_Job], cluster: str, now: int) -> tuple[JobRow, ...]:
    """The fast path's rows: what `_row` gives for each job (tests/slurm/test_parse_paths.py
    checks the two paths agree on any document), in one loop over the structs' values
    (`astuple`, a C call, not 21 attribute reads) with the common cases of `state` and
    `number` (a plain integer, a set finite 23.11 number) tested inline, and the rows
    made as `JobRowDraft`s (backends/rows.py: without the frozen `__init__`). At 50,000
    jobs every call per job costs ~10 ms."""
    rows: list = []
    add = rows.append
    maker, gpu_count, port, set_number, finished = JobRowDraft, _gpus_cached, job_port, _SetNumber, _FINISHED
    sentinel = min(_SENTINELS)  # in range: 0 <= n < sentinel
    # _Job's fields in its order (a reordered struct fails the property test at once)
    for (array_job, array_task, command, comment, end, gres, job_id, job_state, name, node, partition, start, reason,
         suspended, limit, per_job, per_node, req, alloc, uid, user) in map(astuple, jobs):
        kind = type(job_state)
        if kind is list:
            job_state = job_state[0] if job_state else ""
        elif kind is not str:
            job_state = state(job_state)
        if type(start) is set_number:
            start = start.number if start.set and not start.infinite else None
        if type(start) is not int or not 0 <= start < sentinel:
            start = number(start)
        spent = None
        pending = job_state == "PENDING"
        if start and not pending:
            end = number(end) if job_state in finished else None
            if end and end >= start:
                spent = end - start
            else:
                spent = now - start - ((number(suspended) or 0) if suspended is not None else 0)
                if spent < 0:
                    spent = 0
        if type(limit) is set_number:
            limit = limit.number if limit.set and not limit.infinite else None
        if type(limit) is not int or not 0 <= limit < sentinel:
            limit = number(limit)
        if limit is not None:
            limit = limit * 60 - (spent or 0)
            if limit < 0:
                limit = 0
        job_id = str(job_id)
        # 22.05 sends array_job_id 0 for every job, 23.11 {"set": true, "number": 0}
        if array_job and (type(array_job) is not set_number or array_job.number):
            array_job, array_task = number(array_job), number(array_task)
            if array_job and array_task is not None:
                job_id = f"{array_job}_{array_task}"
        add(maker(cluster, job_id, name or "", user or str(uid or ""), job_state, partition or "",
                  "" if pending else (node or ""), spent, limit, "" if reason == "None" else (reason or ""),
                  gpu_count(alloc, req, per_node, per_job, gres), port(comment or "", command or ""), ""))
    return job_rows(rows)


def _parse_any_json(text: str, cluster: str, now: float) -> tuple[JobRow, ...]:
    """The generic path: any JSON, every field checked for its type as it is read."""
    try:
        doc = orjson.loads(text)  # 3-4x json.loads on squeue's large documents; refuses NaN/Infinity
        bounded.check_depth(doc, bounded.MAX_DEPTH, "squeue --json output")
    except bounded.InputRejected as exc:
        raise SqueueParseError(str(exc)) from None
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg:  # orjson stops at 1024 levels, long before the stack would
            raise SqueueParseError(f"squeue --json output nests deeper than {bounded.MAX_DEPTH} levels") from None
        raise SqueueParseError(f"squeue --json printed invalid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list):
        raise SqueueParseError("squeue --json printed no jobs list")
    return tuple(_job(job, cluster, now) for job in doc["jobs"] if isinstance(job, dict))


def json_errors(text: str) -> list[str]:
    """Messages from the `errors` list squeue --json includes (empty if none)."""
    try:
        doc = bounded.loads_json(text, what="squeue --json output", max_bytes=MAX_SQUEUE_BYTES)
    except bounded.InputRejected:
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    out = []
    for err in errors or ():
        if isinstance(err, dict):
            out.append(str(err.get("description") or err.get("error") or err))
        else:
            out.append(str(err))
    return out


def _job(job: dict[str, Any], cluster: str, now: float) -> JobRow:
    get = job.get
    return _row(cluster, int(now), get("job_id", ""), get("job_state"), get("start_time"), get("end_time"),
                get("suspend_time"), get("time_limit"), get("state_reason"), get("array_task_id"),
                get("array_job_id"), get("comment"), get("command"), get("name"),
                get("user_name") or get("user_id"), get("partition"), get("nodes"),
                gpus(get("tres_alloc_str"), get("tres_req_str"), get("tres_per_node"), get("tres_per_job"),
                     get("gres_detail")))


def _row(cluster: str, now: int, job_id: Any, job_state: Any, start: Any, end: Any, suspended: Any,
         limit: Any, reason: Any, array_task: Any, array_job: Any, comment: Any, command: Any, name: Any,
         user: Any, partition: Any, nodes: Any, gpu_count: int | None) -> JobRow:
    """One JobRow from a job's raw field values (either path). Runs 50,000 times for a
    large cluster: the common cases are tested first and the row is built positionally
    (JobRow's field order; tests/slurm/test_parse.py compares with keyword-built rows)."""
    job_state = job_state if type(job_state) is str else state(job_state)
    start = start if type(start) is int and 0 <= start < 0xFFFFFFFE else number(start)
    elapsed: int | None = None
    if start and job_state != "PENDING":
        end = number(end) if job_state in _FINISHED else None
        if end and end >= start:
            elapsed = end - start
        else:
            if suspended is not None:
                suspended = suspended if type(suspended) is int and 0 <= suspended < 0xFFFFFFFE else number(suspended)
            elapsed = now - start - (suspended or 0)
            elapsed = elapsed if elapsed > 0 else 0
    limit = limit if type(limit) is int and 0 <= limit < 0xFFFFFFFE else number(limit)
    time_left = None
    if limit is not None:
        time_left = limit * 60 - (elapsed or 0)
        time_left = time_left if time_left > 0 else 0
    reason = str(reason or "")
    job_id = str(job_id)
    if array_job is not None or array_task is not None:  # 22.05 sends array_job_id 0 for every job
        array_job, array_task = number(array_job), number(array_task)
        if array_job and array_task is not None:
            job_id = f"{array_job}_{array_task}"
    return JobRow(
        cluster, job_id, str(name or ""), str(user or ""), job_state, str(partition or ""),
        str(nodes or "") if job_state != "PENDING" else "", elapsed, time_left,
        "" if reason == "None" else reason, gpu_count,
        job_port(str(comment or ""), str(command or "")),
    )


_gpus_cached = lru_cache(maxsize=4096)(gpus)  # a fleet's jobs share a handful of tres strings


def duration(text: str) -> int | None:
    """`[days-]hours:minutes:seconds`, `minutes:seconds` -> seconds; None for UNLIMITED etc."""
    text = text.strip()
    if not text or not text[0].isdigit():
        return None  # UNLIMITED, INVALID, NOT_SET, N/A
    days = 0
    if "-" in text:
        head, text = text.split("-", 1)
        days = int(head)
    parts = [int(p) for p in text.split(":")]
    seconds = 0
    for part, unit in zip(reversed(parts), (1, 60, 3600)):
        seconds += part * unit
    if len(parts) == 1 and days:
        seconds = parts[0] * 3600  # "1-2" is days-hours
    return days * 86400 + seconds


def parse_text(text: str, cluster: str) -> tuple[JobRow, ...]:
    """Rows from `squeue -h -o TEXT_FORMAT`. A job name may contain '|': the fields
    around it are fixed, so the name is whatever lies between them."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < _TEXT_FIELDS:
            raise SqueueParseError(f"unexpected squeue line: {line[:80]!r}")
        job_id, partition = parts[0], parts[1]
        user, job_state, elapsed, limit, _nodes, where = parts[-6:]
        name = "|".join(parts[2:-6])
        try:
            elapsed_s = duration(elapsed)
            limit_s = duration(limit)
        except ValueError:
            raise SqueueParseError(f"unexpected squeue times in {line[:80]!r}") from None
        pending_reason = where.startswith("(") and where.endswith(")")
        time_left = None if limit_s is None else max(0, limit_s - (elapsed_s or 0))
        rows.append(JobRow(
            cluster=cluster,
            job_id=job_id.strip(),
            name=name,
            user=user,
            state=job_state,
            partition=partition,
            node="" if pending_reason else where,
            elapsed_s=None if job_state == "PENDING" else elapsed_s,
            time_left_s=time_left,
            reason=where[1:-1] if pending_reason and where != "(None)" else "",
            gpus=None,
        ))
    return tuple(rows)


def filter_partition(rows: Iterable[JobRow], partition: str | None) -> tuple[JobRow, ...]:
    """squeue 22.05 --json ignores -p; filter here for every generation alike."""
    if not partition:
        return tuple(rows)
    wanted = set(partition.split(","))
    return tuple(r for r in rows if wanted & set(r.partition.split(",")))


_COMMENT_PORT = re.compile(r"(?:^|[\s,;])port=(\d{1,5})\b")
_COMMAND_PORT = re.compile(r"--port[= ](\d{1,5})\b")


@lru_cache(maxsize=4096)
def job_port(comment: str, command: str) -> int | None:
    """The port a job serves on: `port=N` in its comment (what the lab and sbatch
    templates set), else `--port N` in its command line; None when neither says."""
    for pattern, text in ((_COMMENT_PORT, comment), (_COMMAND_PORT, command)):
        found = pattern.search(text or "")
        if found and 0 < int(found.group(1)) < 65536:
            return int(found.group(1))
    return None


def parse_scontrol(text: str) -> dict[str, str]:
    """`scontrol show job ID` -> {key: value}. Paths (StdOut, StdErr, WorkDir, Command)
    sit alone on their line and may contain spaces: they take the rest of the line."""
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        key, sep, rest = line.partition("=")
        if sep and key in ("StdOut", "StdErr", "StdIn", "WorkDir", "Command"):
            fields[key] = rest
            continue
        for token in line.split():
            k, sep, v = token.partition("=")
            if sep and k not in fields:
                fields[k] = v
    return fields
