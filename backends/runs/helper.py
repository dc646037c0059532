"""The helper container's lifecycle on the host: the seed's start/stop scripts as a class.

`start` launches (or replaces) the container, truncating the pointer file first, says
`Container starting...` every few seconds, and blocks until the pointer names a manifest
that parses; it then reports the manifest's warnings before the ready line and the two
`CONTAINER_RUN_META_JSON*` lines. A container that stops first fails the start with the
last 50 lines of its log. `stop` removes the container and clears the pointer. Textual-free:
the `runs` backend's keys and `servedeck container` share it.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from servedeck.backends.base import BackendError
from servedeck.backends.runs.manifests import POINTER_HOST_KEY, POINTER_KEY, Manifest, read_manifest, read_pointer
from servedeck.backends.runs.settings import RunsSettings
from servedeck.text import strip_control

TAIL_LINES = 50
PROFILE_DIRS = ("deep_gemm", "flashinfer", "moe_configs/configs", "torchinductor", "triton", ".locks", ".in_progress")
TELEMETRY_DIRS = ("logs", "container_runs", "prometheus", "jaeger")
SERVE_PIDFILE = "/tmp/servedeck-sglang-serve.pid"
Emit = Callable[[str], None]


class HelperError(BackendError):
    """A lifecycle step failed; `tail` holds the container's last log lines when known."""

    def __init__(self, message: str, *, tail: list[str] | None = None, hint: str = ""):
        super().__init__(message, hint=hint, reachable=True)
        self.tail = tail or []


@dataclass(frozen=True)
class StartResult:
    run_id: str
    manifest_host: str
    manifest_container: str
    warnings: tuple[str, ...]
    container_id: str


@dataclass(frozen=True)
class HelperStatus:
    container: str
    state: str  # running, exited, created, ..., or "absent"
    image: str = ""
    container_id: str = ""
    pointer: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    manifest_state: str = ""  # ok, malformed, missing... ("" with no pointer)
    warnings: tuple[str, ...] = ()


def prepare_storage(settings: RunsSettings) -> None:
    """The seed's layout below the storage root (idempotent)."""
    root = settings.root
    for sub in ("models", *(f"profiles/{p}" for p in PROFILE_DIRS), *(f"telemetry/{t}" for t in TELEMETRY_DIRS)):
        (root / sub).mkdir(parents=True, exist_ok=True)
    settings.manifest_root.mkdir(parents=True, exist_ok=True)


class HelperContainer:
    def __init__(self, settings: RunsSettings, *, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self._client: Any = None
        self._sleep = sleep

    # -- docker ------------------------------------------------------------------------

    def client(self) -> Any:
        import docker

        if self._client is None:
            try:
                self._client = docker.DockerClient(base_url=self.settings.docker_url, timeout=30)
                self._client.ping()
            except Exception as exc:
                self._client = None
                raise BackendError(f"Docker Engine not reachable at {self.settings.docker_url}: {_first_line(exc)}",
                                   hint="start dockerd or set backends.runs[].docker_url") from None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None

    def _container(self) -> Any | None:
        import docker.errors

        try:
            return self.client().containers.get(self.settings.container)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise HelperError(f"Docker Engine error: {exc.explanation or exc}") from None
        except BackendError:
            raise
        except Exception as exc:  # the engine went away after we connected
            self.close()
            raise BackendError(f"Docker Engine not reachable at {self.settings.docker_url}: {_first_line(exc)}",
                               hint="start dockerd or set backends.runs[].docker_url") from None

    def container_state(self) -> str:
        """running, exited, ... or absent (raises BackendError when Docker is unreachable)."""
        container = self._container()
        return "absent" if container is None else str(container.status)

    def tail(self, container: Any, lines: int = TAIL_LINES) -> list[str]:
        try:
            raw = container.logs(tail=lines).decode(errors="replace")
        except Exception as exc:
            return [f"(no log: {exc})"]
        return [strip_control(line) for line in raw.splitlines()][-lines:]

    # -- start -------------------------------------------------------------------------

    def run_kwargs(self) -> dict[str, Any]:
        """Everything `docker run` gets: host network, the storage mounts, the env."""
        s = self.settings
        volumes = {
            str(s.telemetry): {"bind": "/telemetry", "mode": "rw"},
            str(s.root / "profiles"): {"bind": "/profiles", "mode": "rw"},
            str(s.root / "models"): {"bind": "/models", "mode": "rw"},
        }
        if s.manifest_root != s.telemetry / "container_runs":
            volumes[str(s.manifest_root)] = {"bind": "/telemetry/container_runs", "mode": "rw"}
        for spec in s.mounts:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
                raise HelperError(f"mount {spec!r} is not HOST:CONTAINER[:ro]")
            volumes[str(Path(parts[0]).expanduser())] = {"bind": parts[1], "mode": parts[2] if len(parts) == 3 else "rw"}
        env = {"HOST_STORAGE_ROOT": str(s.root), "HOST_MANIFEST_ROOT": str(s.manifest_root), "RUN_USER": s.user,
               **s.env}
        if s.init_hook:
            env["INIT_RUN_HOOK"] = s.init_hook
        kwargs: dict[str, Any] = dict(
            image=s.image, command=list(s.payload), name=s.container, detach=True, network_mode="host",
            volumes=volumes, environment=env, cap_add=list(s.cap_add) or None,
            labels={"servedeck.role": "sglang-helper"},
        )
        if s.gpus:
            import docker.types

            kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
        return kwargs

    def start(self, emit: Emit = print) -> StartResult:
        """Launch or replace the container and wait for its manifest (blocking)."""
        import docker.errors

        s = self.settings
        client = self.client()
        old = self._container()
        if old is not None:
            emit(f"Replacing container {s.container} ({old.short_id})")
            try:
                old.remove(force=True)
            except docker.errors.APIError as exc:
                raise HelperError(f"cannot remove the old {s.container}: {exc.explanation or exc}") from None
        try:
            prepare_storage(s)
            s.pointer_file.write_text("")  # stale run ids must not leak through
        except OSError as exc:
            raise HelperError(f"cannot prepare storage under {s.root}: {exc.strerror or exc}",
                              hint="set backends.runs[].storage_root to a directory you can write") from None
        try:
            container = client.containers.run(**self.run_kwargs())
        except docker.errors.ImageNotFound:
            raise HelperError(f"image {s.image} not found", hint="build it: servedeck container build") from None
        except docker.errors.APIError as exc:
            raise HelperError(f"cannot start {s.container}: {exc.explanation or exc}") from None
        emit(f"Container {s.container} launched ({container.short_id}) from {s.image}; waiting for its manifest")
        manifest, pointer = self._await_manifest(container, emit)
        for warning in manifest.warnings:
            emit(f"WARNING: {strip_control(warning)}")
        host = pointer.host_path or str(pointer.resolve(s.manifest_root))
        emit(f"Container {s.container} ready: run {manifest.run_id}")
        emit(f"{POINTER_HOST_KEY}={host}")
        emit(f"{POINTER_KEY}={pointer.container_path}")
        return StartResult(manifest.run_id, host, pointer.container_path, manifest.warnings, container.id)

    def _await_manifest(self, container: Any, emit: Emit):
        import docker.errors

        s = self.settings
        began = time.monotonic()
        next_beat = began + s.heartbeat
        while True:
            pointer = read_pointer(s.pointer_file)
            path = pointer.resolve(s.manifest_root)
            if path is not None:
                manifest = read_manifest(path)
                if manifest.ok:
                    return manifest, pointer
            try:
                container.reload()
                state = container.attrs.get("State", {})
            except docker.errors.NotFound:
                raise HelperError(f"container {s.container} disappeared while starting") from None
            if state.get("Status") in ("exited", "dead") or not state.get("Running", True):
                code = state.get("ExitCode")
                raise HelperError(f"container {s.container} stopped before it was ready (exit code {code})",
                                  tail=self.tail(container))
            now = time.monotonic()
            if now - began > s.start_timeout:
                raise HelperError(f"container {s.container} not ready after {s.start_timeout:g} s (still running)",
                                  tail=self.tail(container), hint="see its log; stop it with servedeck container stop")
            if now >= next_beat:
                emit(f"Container starting... ({now - began:.0f}s)")
                next_beat += s.heartbeat
            self._sleep(0.2)

    # -- stop, status --------------------------------------------------------------------

    def stop(self) -> str:
        """Remove the container if it exists and clear the pointer file."""
        import docker.errors

        container = self._container()
        removed = False
        if container is not None:
            try:
                container.remove(force=True)
                removed = True
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                raise HelperError(f"cannot remove {self.settings.container}: {exc.explanation or exc}") from None
        try:
            if self.settings.pointer_file.exists():
                self.settings.pointer_file.write_text("")
        except OSError as exc:
            raise HelperError(f"cannot clear {self.settings.pointer_file}: {exc.strerror or exc}") from None
        what = "removed" if removed else "was not running"
        return f"container {self.settings.container} {what}; pointer {self.settings.pointer_file} cleared"

    def status(self) -> HelperStatus:
        s = self.settings
        container = self._container()
        pointer = read_pointer(s.pointer_file)
        values = {k: v for k, v in ((POINTER_KEY, pointer.container_path), (POINTER_HOST_KEY, pointer.host_path)) if v}
        manifest: Manifest | None = None
        path = pointer.resolve(s.manifest_root)
        if path is not None:
            manifest = read_manifest(path)
        if container is None:
            state, image, cid = "absent", "", ""
        else:
            state = container.status
            image = ",".join(container.image.tags) if container.image is not None else ""
            cid = container.short_id
        return HelperStatus(s.container, state, image, cid, values, manifest.run_id if manifest else "",
                            manifest.state if manifest else "", manifest.warnings if manifest else ())

    # -- serving SGLang inside the container ---------------------------------------------

    def current_manifest(self) -> Manifest:
        s = self.settings
        pointer = read_pointer(s.pointer_file)
        path = pointer.resolve(s.manifest_root)
        if path is None:
            raise HelperError("no current run: the pointer file is empty", hint="start the helper container first")
        manifest = read_manifest(path)
        if not manifest.ok:
            raise HelperError(f"current manifest {path} is {manifest.state}: {manifest.problem}")
        return manifest

    def _running(self) -> Any:
        container = self._container()
        if container is None or container.status != "running":
            raise HelperError(f"container {self.settings.container} is not running",
                              hint="start it: servedeck container start")
        return container

    def serve_command(self) -> list[str]:
        s = self.settings
        try:
            return [arg.format(model=s.serve_model, port=s.serve_port) for arg in s.serve_template]
        except (KeyError, IndexError, ValueError) as exc:
            raise HelperError(f"serve_template: bad placeholder {exc} (only {{model}} and {{port}})") from None

    def serve(self) -> str:
        """Launch the server as the user, its output appended to the run's log file."""
        container = self._running()
        manifest = self.current_manifest()
        log = shlex.quote(manifest.log_file or f"/telemetry/logs/{manifest.run_id}.log")
        command = shlex.join(self.serve_command())
        pidfile = shlex.quote(SERVE_PIDFILE)
        script = (
            f'if [ -f {pidfile} ] && kill -0 "$(cat {pidfile})" 2>/dev/null; then '
            f'echo "already serving (pid $(cat {pidfile}))"; exit 3; fi; '
            f"echo \"servedeck: launching $(date -u +%FT%TZ): \"{shlex.quote(command)} >> {log}; "
            f"{command} >> {log} 2>&1 < /dev/null & echo $! > {pidfile}; echo \"started pid $!\""
        )
        code, out = self._exec(container, script)
        if code == 3:
            raise HelperError(f"SGLang is {out}")
        if code != 0:
            raise HelperError(f"launching SGLang failed (exit {code}): {out}")
        return f"SGLang {out} in {self.settings.container} (run {manifest.run_id}, log {manifest.log_file})"

    def unserve(self, grace_s: int = 15) -> str:
        container = self._running()
        try:
            log = shlex.quote(self.current_manifest().log_file or "/dev/null")
        except HelperError:
            log = "/dev/null"
        pidfile = shlex.quote(SERVE_PIDFILE)
        ticks = grace_s * 5
        script = (
            f'pid=$(cat {pidfile} 2>/dev/null); '
            f'if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then rm -f {pidfile}; echo "not serving"; exit 4; fi; '
            f'kill -TERM "$pid"; i=0; while kill -0 "$pid" 2>/dev/null; do i=$((i+1)); '
            f'if [ $i -ge {ticks} ]; then kill -KILL "$pid" 2>/dev/null; fi; sleep 0.2; done; '
            f'rm -f {pidfile}; echo "servedeck: stopped SGLang (pid $pid) $(date -u +%FT%TZ)" >> {log}; '
            f'echo "stopped pid $pid"'
        )
        code, out = self._exec(container, script)
        if code == 4:
            raise HelperError("SGLang is not running in the container")
        if code != 0:
            raise HelperError(f"stopping SGLang failed (exit {code}): {out}")
        return f"SGLang {out} in {self.settings.container}"

    def _exec(self, container: Any, script: str) -> tuple[int, str]:
        import docker.errors

        try:
            code, output = container.exec_run([*self.settings.serve_shell, script], user=self.settings.user)
        except docker.errors.APIError as exc:
            raise HelperError(f"docker exec failed: {exc.explanation or exc}") from None
        return code, strip_control((output or b"").decode(errors="replace").strip())


def _first_line(exc: BaseException) -> str:
    """Why the engine could not be reached, in a few words."""
    text = str(exc).strip()
    for needle, reason in (("No such file", "no such socket"), ("Connection refused", "connection refused"),
                           ("Permission denied", "permission denied"), ("timed out", "timed out")):
        if needle in text:
            return reason
    return text.splitlines()[0][:160] if text else type(exc).__name__
