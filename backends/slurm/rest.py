"""slurmrestd over httpx: the jobs list, ping and cancel through the REST API.

22.05 serves `openapi/v0.0.38` (`/slurm/v0.0.38/jobs`, `/job/{id}`, `/ping`); newer
releases serve later versions under the same paths, and their job objects are the ones
`squeue --json` prints, so `slurm_parse.parse_json` reads both. Authentication is JWT:
`X-SLURM-USER-NAME` and `X-SLURM-USER-TOKEN`, the token taken from an environment
variable or, when that is unset, from `scontrol token` (run where the CLI runs) and
renewed before it expires. The token is never put in a message. A `unix:///path` URL
uses slurmrestd's local auth instead (the socket's peer credentials; SLURM builds
without auth/jwt, like Debian's, only offer this).
"""

from __future__ import annotations

import getpass
import os
import time
from typing import Callable

from servedeck.backends.slurm import parse as slurm_parse
from servedeck.backends.base import BackendError
from servedeck.backends.rows import JobRow
from servedeck.backends.lazy import lazy

httpx = lazy("httpx")  # loaded by the first request, in a worker thread

TOKEN_LIFESPAN_S = 3600


class SlurmRest:
    def __init__(self, url: str, *, cluster: str, api_version: str = "v0.0.38", user: str | None = None,
                 token_env: str | None = "SLURM_JWT", fetch_token: Callable[[int], str] | None = None,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        # unix:///path: slurmrestd's local auth (the socket's peer credentials), no JWT.
        self.local_socket = url[len("unix://"):] if url.startswith("unix://") else None
        if self.local_socket and transport is None:
            transport = httpx.HTTPTransport(uds=self.local_socket)
        self.cluster = cluster
        self.base = f"/slurm/{api_version}"
        self.user = user or getpass.getuser()
        self.token_env = token_env
        self.fetch_token = fetch_token  # runs `scontrol token lifespan=N`, returns the token
        self.timeout = timeout
        base_url = "http://slurmrestd" if self.local_socket else self.url
        self._client = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self._token: str | None = None
        self._token_until = 0.0

    # -- auth -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.local_socket:
            return {}
        token = os.environ.get(self.token_env) if self.token_env else None
        if not token:
            if self._token is None or time.monotonic() > self._token_until:
                if self.fetch_token is None:
                    raise BackendError(
                        f"slurmrestd at {self.url} needs a JWT: set {self.token_env or 'a token variable'}",
                        hint="export SLURM_JWT=$(scontrol token) or configure the CLI so servedeck can ask",
                    )
                self._token = self.fetch_token(TOKEN_LIFESPAN_S)
                self._token_until = time.monotonic() + TOKEN_LIFESPAN_S * 0.8
            token = self._token
        return {"X-SLURM-USER-NAME": self.user, "X-SLURM-USER-TOKEN": token}

    def _request(self, method: str, path: str) -> httpx.Response:
        try:
            response = self._client.request(method, self.base + path, headers=self._headers())
        except httpx.TimeoutException:
            raise BackendError(f"slurmrestd at {self.url} did not answer within {self.timeout:g}s",
                               hint="check slurmrestd and slurmctld") from None
        except httpx.TransportError as exc:
            raise BackendError(f"slurmrestd not reachable at {self.url} ({type(exc).__name__})",
                               hint="start slurmrestd or set rest_url / prefer: cli") from None
        if response.status_code in (401, 403):
            self._token = None  # expired or revoked: ask again next time
            raise BackendError(f"slurmrestd at {self.url} refused the token (HTTP {response.status_code})",
                               hint="check the JWT (scontrol token) and AuthAltTypes=auth/jwt", reachable=True)
        return response

    def _errors(self, response: httpx.Response) -> list[str]:
        return slurm_parse.json_errors(response.text)

    # -- calls ------------------------------------------------------------------------

    def ping(self) -> None:
        response = self._request("GET", "/ping")
        if response.status_code >= 400:
            raise BackendError(f"slurmrestd ping answered HTTP {response.status_code}", reachable=True)
        try:
            pings = response.json().get("pings") or []
        except ValueError:
            raise BackendError("slurmrestd ping answered something that is not JSON", reachable=True) from None
        if pings and all(str(p.get("ping", "")).upper() not in ("UP", "") for p in pings):
            raise BackendError(f"slurmctld not answering slurmrestd at {self.url}",
                               hint="start slurmctld or check slurm.conf")

    def jobs(self) -> tuple[JobRow, ...]:
        response = self._request("GET", "/jobs")
        errors = self._errors(response)
        if response.status_code >= 400 or errors:
            first = errors[0] if errors else f"HTTP {response.status_code}"
            raise BackendError(f"slurmrestd jobs failed: {first}", reachable=True)
        try:
            return slurm_parse.parse_json(response.text, self.cluster)
        except slurm_parse.SqueueParseError as exc:
            raise BackendError(f"slurmrestd jobs: {exc}", hint="check api_version", reachable=True) from None

    def cancel(self, job_id: str) -> tuple[bool, str]:
        response = self._request("DELETE", f"/job/{job_id}")
        errors = self._errors(response)
        if response.status_code >= 400 or errors:
            return False, errors[0] if errors else f"HTTP {response.status_code}"
        return True, ""

    def job_state(self, job_id: str) -> str:
        response = self._request("GET", f"/job/{job_id}")
        if response.status_code == 404:
            return ""
        try:
            jobs = response.json().get("jobs") or []
        except ValueError:
            jobs = []
        if response.status_code >= 400 or not jobs:
            errors = self._errors(response)
            if any("Invalid job id" in e for e in errors) or not errors:
                return ""
            raise BackendError(f"slurmrestd job {job_id}: {errors[0]}", reachable=True)
        return slurm_parse.state(jobs[0].get("job_state"))

    def close(self) -> None:
        self._client.close()
