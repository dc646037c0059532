"""Runs a command given as an argument list, on this machine or on an SSH host.

Backends that drive CLIs (SLURM now, others later) depend on `CommandRunner` only, so
the same code works locally and remotely. Locally there is no shell at all; remotely the
argument list is quoted with shlex.join by the SSH pool. A missing program is reported
the same way on both sides (`ProgramNotFound`).
"""

from __future__ import annotations

import subprocess
from typing import Protocol, Sequence

from servedeck.backends.base import BackendError
from servedeck.backends.ssh.pool import CommandResult, SSHPool

# The shell's "command not found" exit status, as a remote login shell reports it.
_NOT_FOUND_RC = 127


class ProgramNotFound(BackendError):
    """The program to run is not installed (or not on PATH) where it was run."""


class CommandRunner(Protocol):
    where: str  # "locally" or "on ssh host lab": used in messages

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult: ...


class LocalRunner:
    """subprocess, no shell, with a timeout."""

    where = "locally"

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        try:
            proc = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=timeout,
                stdin=subprocess.DEVNULL, errors="replace",
            )
        except FileNotFoundError:
            raise ProgramNotFound(f"{argv[0]} not found locally") from None
        except PermissionError:
            raise BackendError(f"{argv[0]} is not executable locally", hint="check its permissions") from None
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"{argv[0]} did not finish within {timeout:g}s",
                hint="the command is slow; raise the backend's timeout",
                reachable=True,
            ) from None
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)


class SSHRunner:
    """Runs through the shared SSH pool on one configured host."""

    def __init__(self, pool: SSHPool, host: str):
        self.pool = pool
        self.host = host
        self.where = f"on ssh host {host}"

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        result = self.pool.run(self.host, argv, timeout=timeout)
        if result.rc == _NOT_FOUND_RC and (
            "not found" in result.stderr or "No such file" in result.stderr
        ):
            raise ProgramNotFound(f"{argv[0]} not found {self.where}")
        return result
