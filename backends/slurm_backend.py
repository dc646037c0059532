"""SLURM through its CLI (`squeue`, `scontrol`, `scancel`), locally or over SSH.

The commands run where the target says: on this machine, or on a configured SSH host
through the shared pool (`BackendContext.extras["ssh"]`). `squeue --json` is preferred;
where it is unavailable (older SLURM, or a build without the JSON plugin) the text format
is used from then on. `prefer` leaves room for slurmrestd later.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Mapping

from pydantic import Field

from servedeck.backends import slurm_parse
from servedeck.backends.base import (
    Action,
    ActionResult,
    Backend,
    BackendContext,
    BackendError,
    BackendSettings,
    Column,
    PaneSpec,
    Rows,
)
from servedeck.backends.commands import CommandRunner, LocalRunner, ProgramNotFound, SSHRunner
from servedeck.backends.rows import JobRow
from servedeck.backends.ssh import CommandResult

_JOB_ID = re.compile(r"^\d+(?:_\d+)?$")
_NO_JSON_HINTS = ("unrecognized option", "invalid option", "data_parser", "openapi", "plugin")
_NOT_FOUND_HINT = "SLURM commands not found on PATH"
_UNREACHABLE = ("Unable to contact slurm controller", "Connection refused", "authentication error",
                "Munge encode failed", "Zero Bytes were transmitted")


class SlurmSettings(BackendSettings):
    ssh: str | None = Field(default=None, description="SSH host to run SLURM commands on (default: here).")
    prefer: Literal["cli"] = Field(default="cli", description="How to talk to SLURM (only cli for now).")
    partition: str | None = Field(default=None, description="Only show jobs of these partitions (comma-separated).")
    timeout: float = Field(default=15.0, gt=0, description="Seconds one SLURM command may take.")


JOBS = PaneSpec(
    key="jobs",
    title="Jobs",
    columns=(
        Column("cluster", "Cluster", 10),
        Column("job_id", "Job", 9),
        Column("name", "Name", 24),
        Column("user", "User", 10),
        Column("state", "State", 11),
        Column("partition", "Partition", 10),
        Column("node", "Node", 14),
        Column("elapsed_s", "Elapsed", 9),
        Column("time_left_s", "Left", 9),
        Column("reason", "Reason", 16),
        Column("gpus", "GPUs", 5),
    ),
    row_key="job_id",
)


class SlurmBackend(Backend):
    kind = "slurm"
    settings_model = SlurmSettings
    default_interval = 10.0
    panes = (JOBS,)
    actions = (Action("job.cancel", "Cancel job", "jobs", mutating=True, confirm=True),)

    settings: SlurmSettings

    def __init__(self, settings: SlurmSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self._runner: CommandRunner | None = None
        self._json_ok: bool | None = None  # None: not tried yet

    # -- commands ----------------------------------------------------------------------

    @property
    def runner(self) -> CommandRunner:
        if self._runner is None:
            if self.settings.ssh is None:
                self._runner = LocalRunner()
            else:
                pool = self.context.extras.get("ssh")
                if pool is None:
                    raise BackendError(
                        f"slurm target {self.name} needs ssh host {self.settings.ssh}, but no SSH pool is set up",
                        hint="configure the ssh: section",
                    )
                self._runner = SSHRunner(pool, self.settings.ssh)
        return self._runner

    def _run(self, argv: list[str]) -> CommandResult:
        try:
            return self.runner.run(argv, timeout=self.settings.timeout)
        except ProgramNotFound as exc:
            raise BackendError(exc.message, hint=_NOT_FOUND_HINT) from None

    # -- polling -----------------------------------------------------------------------

    def poll(self, wanted: frozenset[str]) -> Mapping[str, Rows]:
        if not wanted:
            self._ping()
            return {}
        if "jobs" not in wanted:
            return {}
        return {"jobs": slurm_parse.filter_partition(self._jobs(), self.settings.partition)}

    def _ping(self) -> None:
        result = self._run(["scontrol", "ping"])
        text = (result.stdout + result.stderr).strip()
        if result.rc != 0 or "DOWN" in text:
            first = text.splitlines()[0] if text else f"exit status {result.rc}"
            raise BackendError(
                f"slurmctld not answering {self.runner.where}: {first}",
                hint="start slurmctld or check slurm.conf's SlurmctldHost",
            )

    def _jobs(self) -> tuple[JobRow, ...]:
        if self._json_ok is not False:
            rows = self._jobs_json()
            if rows is not None:
                return rows
        return self._jobs_text()

    def _partition_args(self) -> list[str]:
        return ["--partition", self.settings.partition] if self.settings.partition else []

    def _jobs_json(self) -> tuple[JobRow, ...] | None:
        """None when this squeue cannot print JSON (remembered: text from then on)."""
        result = self._run(["squeue", "--json", *self._partition_args()])
        if result.rc != 0:
            if any(h in result.stderr.lower() for h in _NO_JSON_HINTS):
                self._json_ok = False
                return None
            raise self._squeue_failed(result)
        errors = slurm_parse.json_errors(result.stdout)
        if errors:  # 22.05 exits 0 when it cannot reach slurmctld and lists why here
            raise self._squeue_failed(CommandResult(result.rc, "", "\n".join(errors) + "\n" + result.stderr))
        try:
            rows = slurm_parse.parse_json(result.stdout, self.name)
        except slurm_parse.SqueueParseError:
            if self._json_ok:
                raise BackendError(
                    f"squeue --json output {self.runner.where} could not be read",
                    hint="report this SLURM version's output", reachable=True,
                ) from None
            self._json_ok = False
            return None
        self._json_ok = True
        return rows

    def _jobs_text(self) -> tuple[JobRow, ...]:
        argv = ["squeue", "-h", "-o", slurm_parse.TEXT_FORMAT, *self._partition_args()]
        result = self._run(argv)
        if result.rc != 0:
            raise self._squeue_failed(result)
        try:
            return slurm_parse.parse_text(result.stdout, self.name)
        except slurm_parse.SqueueParseError as exc:
            raise BackendError(str(exc), hint="report this SLURM version's output", reachable=True) from None

    def _squeue_failed(self, result: CommandResult) -> BackendError:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        first = lines[0] if lines else f"exit status {result.rc}"
        unreachable = any(s in result.stderr for s in _UNREACHABLE)
        return BackendError(
            f"squeue failed {self.runner.where}: {first}",
            hint="start slurmctld or check slurm.conf" if unreachable else "run squeue by hand to see why",
            reachable=not unreachable,
        )

    # -- actions -----------------------------------------------------------------------

    def perform(self, action_id: str, row: Any) -> ActionResult:
        if action_id != "job.cancel":
            return super().perform(action_id, row)
        job_id = str(getattr(row, "job_id", ""))
        if not _JOB_ID.match(job_id):
            return ActionResult(False, f"refused: {job_id!r} is not a SLURM job id")
        result = self._run(["scancel", job_id])
        if result.rc != 0:
            detail = (result.stderr.strip().splitlines() or [f"exit status {result.rc}"])[-1]
            return ActionResult(False, f"scancel {job_id} failed: {detail}")
        name = getattr(row, "name", "")
        return ActionResult(True, f"cancelled job {job_id}" + (f" ({name})" if name else ""))

    def close(self) -> None:
        self._runner = None  # the SSH pool is shared: its owner closes it
