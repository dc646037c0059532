"""Turns squeue output into JobRows: JSON of every generation, and the text fallback.

`squeue --json` changed shape between releases: 22.05 gives `job_state` as a string and
times as integers; 23.11+ gives `job_state` as a list and times as
`{set, infinite, number}` objects. Both are accepted field by field, so a mix (as seen
in 23.02) also parses. Without JSON support, `squeue -h -o TEXT_FORMAT` is parsed.
"""

from __future__ import annotations

import math
import re
import time
from functools import lru_cache
from typing import Any, Iterable

import orjson

from servedeck import bounded
from servedeck.backends.rows import JobRow

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
    if type(value) is int:  # the common case first: this runs for every field of every job
        return None if value in _SENTINELS or value < 0 else value
    if isinstance(value, dict):
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
        if isinstance(field, list):
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


def parse_json(text: str, cluster: str, now: float | None = None) -> tuple[JobRow, ...]:
    """Rows from `squeue --json` output of any supported generation."""
    try:
        bounded.check_size(len(text), MAX_SQUEUE_BYTES, "squeue --json output")
        doc = orjson.loads(text)  # 3-4x json.loads on squeue's large documents; refuses NaN/Infinity
        bounded.check_depth(doc, bounded.MAX_DEPTH, "squeue --json output")
    except bounded.InputRejected as exc:
        raise SqueueParseError(str(exc)) from None
    except orjson.JSONDecodeError as exc:
        raise SqueueParseError(f"squeue --json printed invalid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list):
        raise SqueueParseError("squeue --json printed no jobs list")
    now = time.time() if now is None else now
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
    job_state = state(job.get("job_state"))
    start = number(job.get("start_time"))
    end = number(job.get("end_time"))
    suspended = number(job.get("suspend_time")) or 0
    limit_min = number(job.get("time_limit"))
    elapsed: int | None = None
    if job_state == "PENDING" or not start:
        elapsed = None
    elif job_state in _FINISHED and end and end >= start:
        elapsed = end - start
    else:
        elapsed = max(0, int(now) - start - suspended)
    time_left = None
    if limit_min is not None:
        time_left = max(0, limit_min * 60 - (elapsed or 0))
    reason = str(job.get("state_reason") or "")
    array_task = number(job.get("array_task_id"))
    array_job = number(job.get("array_job_id"))
    job_id = str(job.get("job_id", ""))
    if array_job and array_task is not None:
        job_id = f"{array_job}_{array_task}"
    return JobRow(
        port=job_port(str(job.get("comment") or ""), str(job.get("command") or "")),
        cluster=cluster,
        job_id=job_id,
        name=str(job.get("name") or ""),
        user=str(job.get("user_name") or job.get("user_id") or ""),
        state=job_state,
        partition=str(job.get("partition") or ""),
        node=str(job.get("nodes") or "") if job_state != "PENDING" else "",
        elapsed_s=elapsed,
        time_left_s=time_left,
        reason="" if reason == "None" else reason,
        gpus=gpus(job.get("tres_alloc_str"), job.get("tres_req_str"), job.get("tres_per_node"),
                  job.get("tres_per_job"), job.get("gres_detail")),
    )


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
