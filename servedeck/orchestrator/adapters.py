"""The orchestrator's view of SLURM and the router, built on servedeck's backends.

SLURM goes through `backends.commands` runners (no shell locally, quoted over SSH) and
`backends.slurm.parse` (every squeue generation); the router through `RouterBackend`
(both API generations, endpoint overrides, auth header from env). Failures leave this
module as `SlurmError` / `RouterError` naming the operation, for metrics and backoff.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from servedeck.backends.base import BackendContext, BackendError
from servedeck.backends.commands import CommandRunner, LocalRunner
from servedeck.backends.rows import WorkerRow
from servedeck.backends.slurm import parse as slurm_parse
from servedeck.orchestrator.config import RouterSettings
from servedeck.orchestrator.sbatch import Marker, parse_comment

ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
NODE_FAILURES = {"NODE_FAIL", "BOOT_FAIL"}
_TEXT = "%i|%j|%T|%N|%L|%k"


class SlurmError(Exception):
    def __init__(self, operation: str, message: str):
        super().__init__(message)
        self.operation = operation
        self.message = message


class RouterError(Exception):
    def __init__(self, operation: str, message: str):
        super().__init__(message)
        self.operation = operation
        self.message = message


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    name: str
    state: str
    node: str
    time_left_s: int | None
    marker: Marker | None
    reason: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class SlurmCLI:
    """squeue / sbatch / scancel through a CommandRunner."""

    def __init__(self, runner: CommandRunner | None = None, timeout: float = 30.0):
        self.runner = runner or LocalRunner()
        self.timeout = timeout
        self._json = True
        # The last output, its jobs and the second they were parsed at: a watch that finds the
        # queue unchanged does not parse it again.
        self._parsed: tuple[str, list[SlurmJob], int] = ("", [], 0)

    def _run(self, operation: str, argv: Sequence[str]):
        try:
            result = self.runner.run(argv, self.timeout)
        except BackendError as exc:
            raise SlurmError(operation, exc.message) from None
        if result.rc != 0:
            detail = " ".join((result.stderr or result.stdout).split())[:200]
            raise SlurmError(operation, f"{argv[0]} exited {result.rc}: {detail}")
        return result

    def jobs(self, name_prefix: str) -> list[SlurmJob]:
        """Every job whose name starts with `name_prefix` (squeue 22.05 ignores filters)."""
        if self._json:
            try:
                result = self._run("squeue", ["squeue", "--me", "--json"])
                jobs = self._cached(result.stdout, self._from_json)
            except (SlurmError, slurm_parse.SqueueParseError, ValueError):
                # An older SLURM without --json (or one printing something else): the text
                # form, from now on if it works.
                result = self._run("squeue", ["squeue", "--me", "-h", "-o", _TEXT])
                self._json = False
                jobs = self._cached(result.stdout, self._from_text)
        else:
            result = self._run("squeue", ["squeue", "--me", "-h", "-o", _TEXT])
            jobs = self._cached(result.stdout, self._from_text)
        return [j for j in jobs if j.name.startswith(name_prefix)]

    def _cached(self, text: str, parse) -> list[SlurmJob]:
        """squeue's JSON gives start times, not time left (parse_json counts from now):
        a reused parse has its running jobs' time left moved on by the seconds since."""
        now = int(time.time())
        if not text or text != self._parsed[0]:
            self._parsed = (text, parse(text), now)
            return self._parsed[1]
        _, jobs, at = self._parsed
        if now == at or not self._json:
            return jobs  # the text form's %L is squeue's own: the same text, the same time left
        return [replace(j, time_left_s=max(0, j.time_left_s - (now - at)))
                if j.time_left_s is not None and j.state == "RUNNING" else j for j in jobs]

    @staticmethod
    def _from_json(text: str) -> list[SlurmJob]:
        rows = slurm_parse.parse_json(text, "orchestrator")
        raw = [j for j in json.loads(text)["jobs"] if isinstance(j, dict)]
        out = []
        for row, job in zip(rows, raw):
            out.append(SlurmJob(row.job_id, row.name, row.state, row.node, row.time_left_s,
                                parse_comment(str(job.get("comment") or "")), row.reason))
        return out

    @staticmethod
    def _from_text(text: str) -> list[SlurmJob]:
        out = []
        for line in text.splitlines():
            parts = line.split("|")
            if len(parts) < 6:
                continue
            job_id, state, node, left = parts[0], parts[-4], parts[-3], parts[-2]
            name = "|".join(parts[1:-4])
            comment = parts[-1]
            try:
                time_left = slurm_parse.duration(left)
            except ValueError:
                time_left = None
            out.append(SlurmJob(job_id.strip(), name, state, node if state != "PENDING" else "",
                                time_left, parse_comment(comment)))
        return out

    def submit(self, script_path: Path) -> str:
        result = self._run("sbatch", ["sbatch", "--parsable", str(script_path)])
        job_id = result.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise SlurmError("sbatch", f"sbatch printed no job id: {result.stdout.strip()[:80]!r}")
        return job_id

    def cancel(self, job_id: str) -> None:
        self._run("scancel", ["scancel", job_id])


class RouterClient:
    """One deployment's router, through servedeck's RouterBackend."""

    def __init__(self, deployment: str, settings: RouterSettings):
        from servedeck.backends.router.backend import RouterBackend, RouterEndpoints
        from servedeck.backends.router.backend import RouterSettings as BackendRouterSettings
        from servedeck.backends.router.match import Board

        auth = settings.auth
        backend_settings = BackendRouterSettings(
            name=f"orchestrator:{deployment}", url=settings.base_url,
            endpoints=RouterEndpoints(**settings.endpoints.model_dump()),
            auth_header_name=auth.header_name if auth else "Authorization",
            auth_header_env=auth.header_value_env if auth else None,
            timeout=settings.timeout_s,
        )
        self.backend = RouterBackend(backend_settings, BackendContext(extras={"board": Board()}))

    def workers(self) -> tuple[WorkerRow, ...]:
        try:
            return self.backend.worker_rows()
        except BackendError as exc:
            raise RouterError("list", exc.message) from None

    def add(self, url: str) -> None:
        try:
            result = self.backend.add_worker(url)
        except BackendError as exc:
            raise RouterError("add", exc.message) from None
        if not result.ok:
            raise RouterError("add", result.message)

    def remove(self, row: WorkerRow) -> None:
        try:
            result = self.backend.perform("worker.remove", row)
        except BackendError as exc:
            raise RouterError("remove", exc.message) from None
        if not result.ok:
            raise RouterError("remove", result.message)

    def close(self) -> None:
        self.backend.close()
