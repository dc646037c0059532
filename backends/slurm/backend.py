"""SLURM through its CLI (`squeue`, `scontrol`, `scancel`), locally or over SSH.

The commands run where the target says: on this machine, or on a configured SSH host
through the shared pool (`BackendContext.extras["ssh"]`). `squeue --json` is preferred;
where it is unavailable (older SLURM, or a build without the JSON plugin) the text format
is used from then on. `prefer` leaves room for slurmrestd later.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Literal, Mapping

from pydantic import Field

from servedeck.backends.slurm import parse as slurm_parse
from servedeck.backends.base import (
    Action,
    ActionResult,
    OpenLog,
    ShowText,
    Backend,
    BackendContext,
    BackendError,
    BackendSettings,
    Column,
    PaneSpec,
    Rows,
)
from servedeck.backends.commands import CommandRunner, LocalRunner, ProgramNotFound, SSHRunner
from servedeck.backends.router.drain import DrainError, drain_and_show, plan_for, refresh_board
from servedeck.backends.rows import JobRow
from servedeck.backends.router.match import board_for
from servedeck.backends.ssh.pool import CommandResult

_NO_REST = object()  # "slurmrestd not used for this call": fall through to the CLI
_JOB_ID = re.compile(r"^\d+(?:_\d+)?$")
_NO_JSON_HINTS = ("unrecognized option", "invalid option", "data_parser", "openapi", "plugin")
_NOT_FOUND_HINT = "SLURM commands not found on PATH"
_UNREACHABLE = ("Unable to contact slurm controller", "Connection refused", "authentication error",
                "Munge encode failed", "Zero Bytes were transmitted")


class SlurmSettings(BackendSettings):
    ssh: str | None = Field(default=None, description="SSH host to run SLURM commands on (default: here).")
    prefer: Literal["cli", "rest", "auto"] = Field(
        default="cli", description="cli (squeue & co.), rest (slurmrestd at rest_url), or auto (rest when it answers)."
    )
    rest_url: str | None = Field(default=None, description="slurmrestd base URL, e.g. http://login:6820.")
    rest_api: str = Field(default="v0.0.38", description="slurmrestd API version (v0.0.38 on SLURM 22.05).")
    rest_user: str | None = Field(default=None, description="X-SLURM-USER-NAME (default: the local user).")
    token_env: str | None = Field(
        default="SLURM_JWT", description="Environment variable holding the JWT; unset: ask `scontrol token`."
    )
    partition: str | None = Field(default=None, description="Only show jobs of these partitions (comma-separated).")
    timeout: float = Field(default=15.0, gt=0, description="Seconds one SLURM command may take.")
    deregister_grace_s: float = Field(
        default=10.0, ge=0, description="Drain: seconds between removing a worker from its router and cancelling its job."
    )


JOBS = PaneSpec(
    key="jobs",
    title="Jobs",
    columns=(
        # priority: which columns stay on a narrow terminal (lower stays longer)
        Column("cluster", "Cluster", 10, priority=6),
        Column("job_id", "Job", 9, priority=1),
        Column("name", "Name", 24, priority=2),
        Column("user", "User", 10, priority=7),
        Column("state", "State", 11, priority=1),
        Column("partition", "Partition", 10, priority=8),
        Column("node", "Node", 14, priority=3),
        Column("elapsed_s", "Elapsed", 9, priority=5),
        Column("time_left_s", "Left", 9, priority=4),
        Column("reason", "Reason", 16, priority=5),
        Column("gpus", "GPUs", 5, priority=6),
        Column("draining", "Drain", 14, priority=4),
    ),
    row_key="job_id",
    aliases=("j", "job", "slurm", "squeue"),
    order=80,
)


class SlurmBackend(Backend):
    kind = "slurm"
    settings_model = SlurmSettings
    default_interval = 10.0
    panes = (JOBS,)
    actions = (
        Action("job.cancel", "Cancel job", "jobs", mutating=True, confirm=True, key="x"),
        Action("job.details", "Job details", "jobs", mutating=False, key="i"),
        Action("job.stdout", "Follow job stdout", "jobs", mutating=False, key="o"),
        Action("job.stderr", "Follow job stderr", "jobs", mutating=False, key="e"),
        Action("job.nodes", "Nodes (sinfo)", "jobs", mutating=False, key="n", needs_row=False),
        Action("job.submit", "Submit batch script", "jobs", mutating=True, confirm=True, key="b",
               needs_row=False, prompt="sbatch script path (on the cluster)"),
        Action("job.drain", "Drain (router remove, grace, cancel)", "jobs", mutating=True, confirm=True, key="d"),
    )
    log_kinds = ("job",)

    settings: SlurmSettings

    def __init__(self, settings: SlurmSettings, context: BackendContext | None = None):
        super().__init__(settings, context)
        self._runner: CommandRunner | None = None
        self._json_ok: bool | None = None  # None: not tried yet
        self.board = board_for(self.context)
        self.board.register(self)
        self._rest = None
        self._rest_transport = None  # tests pass an httpx.MockTransport

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
        # The ping first: it fails at once when slurmctld is gone, where squeue retries
        # for MessageTimeout and then (22.05 --json) exits 0 with a vague error.
        self._ping()
        if "jobs" not in wanted:
            return {}
        rows = slurm_parse.filter_partition(self._jobs(), self.settings.partition)
        self.board.publish("jobs", self.name, rows)
        return {"jobs": tuple(self._with_drain(r) for r in rows)}

    def _with_drain(self, row: JobRow) -> JobRow:
        step = self.board.draining("jobs", row.job_id)
        return replace(row, draining=step) if step else row

    # -- slurmrestd --------------------------------------------------------------------

    @property
    def rest(self):
        """The REST client when `prefer` allows it and a rest_url is set, else None."""
        if self.settings.prefer == "cli" or not self.settings.rest_url:
            return None
        if self._rest is None:
            from servedeck.backends.slurm.rest import SlurmRest

            self._rest = SlurmRest(self.settings.rest_url, cluster=self.name, api_version=self.settings.rest_api,
                                   user=self.settings.rest_user, token_env=self.settings.token_env,
                                   fetch_token=self._scontrol_token, timeout=self.settings.timeout,
                                   transport=self._rest_transport)
        return self._rest

    def _scontrol_token(self, lifespan: int) -> str:
        result = self._run(["scontrol", "token", f"lifespan={lifespan}"])
        token = result.stdout.strip().partition("SLURM_JWT=")[2].split()[0] if "SLURM_JWT=" in result.stdout else ""
        if result.rc != 0 or not token:
            raise BackendError(f"scontrol token failed {self.runner.where}: {_last_line(result)}",
                               hint="enable AuthAltTypes=auth/jwt in slurm.conf, or set the token variable")
        return token

    def _via_rest(self, call: Callable[[Any], Any]) -> Any:
        """Run `call(rest)`; with prefer: auto, an unreachable slurmrestd falls back to the
        CLI (returns _NO_REST). prefer: rest surfaces the error."""
        rest = self.rest
        if rest is None:
            return _NO_REST
        try:
            return call(rest)
        except BackendError as exc:
            if self.settings.prefer == "auto" and not exc.reachable:
                return _NO_REST
            raise

    def _ping(self) -> None:
        if self._via_rest(lambda rest: rest.ping()) is not _NO_REST:
            return
        result = self._run(["scontrol", "ping"])
        text = (result.stdout + result.stderr).strip()
        if result.rc != 0 or "DOWN" in text:
            first = text.splitlines()[0] if text else f"exit status {result.rc}"
            raise BackendError(
                f"slurmctld not answering {self.runner.where}: {first}",
                hint="start slurmctld or check slurm.conf's SlurmctldHost",
            )

    def _jobs(self) -> tuple[JobRow, ...]:
        rows = self._via_rest(lambda rest: rest.jobs())
        if rows is not _NO_REST:
            return rows
        if self._json_ok is not False:
            rows = self._jobs_json()
            if rows is not None:
                return rows
        return self._jobs_text()

    def _partition_args(self) -> list[str]:
        return ["--partition", self.settings.partition] if self.settings.partition else []

    def _jobs_json(self) -> tuple[JobRow, ...] | None:
        """None when this squeue cannot print JSON: remembered (text from then on) only when
        squeue itself says so; an unreadable answer falls back for this poll alone."""
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
            # Not remembered: one unreadable answer (a cut-off read, a transient
            # controller message) must not change the format for the whole session.
            if self._json_ok:
                raise BackendError(
                    f"squeue --json output {self.runner.where} could not be read",
                    hint="report this SLURM version's output", reachable=True,
                ) from None
            return None  # never read JSON from it yet: this poll uses the text format
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

    def perform(self, action_id: str, row: Any, value: str | None = None) -> ActionResult:
        if action_id == "job.nodes":
            return self.nodes()
        if action_id == "job.submit":
            return self.submit(value or "")
        job_id = str(getattr(row, "job_id", ""))
        if action_id == "job.cancel":
            return self.cancel(job_id, getattr(row, "name", ""))
        if action_id == "job.drain":
            return self._drain(job_id)
        if action_id == "job.details":
            try:
                return ActionResult(True, f"job {job_id}", ShowText(f"Job {job_id}", self.show_job(job_id)))
            except BackendError as exc:
                return ActionResult(False, exc.message)
        if action_id in ("job.stdout", "job.stderr"):
            which = "StdErr" if action_id == "job.stderr" else "StdOut"
            try:
                source = self.job_log(job_id, which)
            except BackendError as exc:
                return ActionResult(False, exc.message)
            return ActionResult(True, f"following {source.path}", OpenLog(source, f"job {job_id} {which.lower()}"))
        return super().perform(action_id, row, value)

    def _drain(self, job_id: str) -> ActionResult:
        refresh_board(self.board)
        try:
            plan = plan_for(job_id, self.board)
        except DrainError as exc:
            return ActionResult(False, str(exc))
        ok, text = drain_and_show(plan, self.board, self.settings.deregister_grace_s)
        return ActionResult(ok, text)

    def _checked_id(self, job_id: str) -> str:
        if not _JOB_ID.match(job_id):
            raise BackendError(f"refused: {job_id!r} is not a SLURM job id", reachable=True)
        return job_id

    def cancel(self, job_id: str, name: str = "") -> ActionResult:
        if not _JOB_ID.match(job_id):
            return ActionResult(False, f"refused: {job_id!r} is not a SLURM job id")
        try:
            done = self._via_rest(lambda rest: rest.cancel(job_id))
        except BackendError as exc:
            return ActionResult(False, f"cancel {job_id} failed: {exc.message}")
        if done is not _NO_REST:
            ok, why = done
            if not ok:
                return ActionResult(False, f"cancel {job_id} via slurmrestd failed: {why}")
            return ActionResult(True, f"cancelled job {job_id}" + (f" ({name})" if name else ""))
        result = self._run(["scancel", job_id])
        if result.rc != 0:
            return ActionResult(False, f"scancel {job_id} failed: {_last_line(result)}")
        return ActionResult(True, f"cancelled job {job_id}" + (f" ({name})" if name else ""))

    def show_job(self, job_id: str) -> str:
        """`scontrol show job ID` as SLURM prints it (raises BackendError when it fails)."""
        result = self._run(["scontrol", "show", "job", self._checked_id(job_id)])
        if result.rc != 0:
            raise BackendError(f"scontrol show job {job_id} failed: {_last_line(result)}", reachable=True)
        return result.stdout

    def job_state(self, job_id: str) -> str:
        """The job's state from scontrol ("" once SLURM has forgotten it)."""
        state = self._via_rest(lambda rest: rest.job_state(self._checked_id(job_id)))
        if state is not _NO_REST:
            return state
        result = self._run(["scontrol", "show", "job", self._checked_id(job_id)])
        if result.rc != 0:
            if "Invalid job id" in result.stderr:
                return ""
            raise BackendError(f"scontrol show job {job_id} failed: {_last_line(result)}", reachable=True)
        return slurm_parse.parse_scontrol(result.stdout).get("JobState", "")

    def job_log(self, job_id: str, which: str = "StdOut"):
        """A log source following the job's stdout or stderr file where the job writes it."""
        fields = slurm_parse.parse_scontrol(self.show_job(job_id))
        path = fields.get(which) or fields.get("StdOut")
        if not path:
            raise BackendError(f"job {job_id} has no {which} file", reachable=True)
        name = f"job/{job_id}" + ("" if which == "StdOut" else ":stderr")
        if self.settings.ssh is None:
            from servedeck.backends.logs.remote import LocalTailSource
            return LocalTailSource(path, name=name)
        from servedeck.backends.logs.remote import RemoteFileSource
        return RemoteFileSource(self.context.extras["ssh"], self.settings.ssh, path, name=name)

    def log_source(self, kind: str, name: str):
        if kind != "job":
            return None
        job_id, _, which = name.partition(":")
        if not _JOB_ID.match(job_id):
            return None
        try:
            return self.job_log(job_id, "StdErr" if which == "stderr" else "StdOut")
        except BackendError:
            return None  # not a job of this cluster

    def nodes(self) -> ActionResult:
        result = self._run(["sinfo", "-N", "-l"])
        if result.rc != 0:
            return ActionResult(False, f"sinfo failed: {_last_line(result)}")
        return ActionResult(True, "nodes", ShowText(f"Nodes of {self.name}", result.stdout))

    def submit(self, script: str) -> ActionResult:
        """`sbatch --parsable SCRIPT` (a path on the machine SLURM runs on)."""
        script = script.strip()
        if not script:
            return ActionResult(False, "no script given")
        if script.startswith("-"):
            return ActionResult(False, f"refused: {script!r} looks like an option, not a script path")
        result = self._run(["sbatch", "--parsable", script])
        if result.rc != 0:
            return ActionResult(False, f"sbatch {script} failed: {_last_line(result)}")
        job_id = result.stdout.strip().split(";")[0]
        self.request_poll()
        return ActionResult(True, f"submitted {script} as job {job_id}")

    def close(self) -> None:
        self.board.unregister(self)
        if self._rest is not None:
            self._rest.close()
            self._rest = None
        self._runner = None  # the SSH pool is shared: its owner closes it


def _last_line(result: CommandResult) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.rc}"
