"""One build.sh or run.sh invocation, executed for real (or printed with --dry-run).

Shared by the verbs, the cockpit's image actions and the lab: it prints what the script
prints (tokens masked), runs the plan's builds in order through builder.py with records
on disk (the chain's builds are recorded `queued` up front, so the pane shows the whole
chain; a failure marks the rest `skipped`), and runs run.sh's container through the SDK.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from servedeck.backends.dynamo.builder import Builder
from servedeck.backends.dynamo.buildsh import BuildPlan, ScriptExit, mask_tokens, plan_build
from servedeck.backends.dynamo.records import BuildStore, chain_records, new_invocation_id
from servedeck.backends.dynamo.runsh import RunPlan, plan_run
from servedeck.secrets import register

Emit = Callable[[str], None]


def _stderr(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


class BuildSession:
    def __init__(self, settings, repo: Path | str | None = None):
        self.settings = settings
        self.repo = Path(repo or settings.repo or ".")
        self.store = BuildStore(settings.state_dir or None)
        self.invocation = ""

    def builder(self) -> Builder:
        return Builder(self.settings.url, self.store, network=self.settings.build_network,
                       cli=self.settings.docker_cli or None, timeout=self.settings.timeout)

    def plan(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd=None) -> BuildPlan:
        plan = plan_build(argv, self.repo, env=env, cwd=cwd)
        for token in plan.tokens:
            register(token)
        return plan

    def build(self, argv: Sequence[str], emit: Emit = print, err: Emit = _stderr,
              env: Mapping[str, str] | None = None, cwd=None, on_start: Callable[[str], None] | None = None) -> int:
        """build.sh `argv`: the exit status the script would have."""
        try:
            plan = self.plan(argv, env, cwd)
        except ScriptExit as exc:
            for line in exc.stdout:
                emit(mask_tokens(line))
            if exc.stderr:
                err(mask_tokens(exc.stderr))
            return exc.status
        if plan.dry_run:
            for line in plan.render():
                emit(line)
            return plan.failure.status if plan.failure else 0
        self.invocation = new_invocation_id()
        records = chain_records(plan.builds, self.invocation, self.settings.name, self.settings.url)
        for record in records:
            self.store.claim(record)
            self.store.save(record)
        if on_start:
            on_start(self.invocation)
        builder = self.builder()
        pending = list(records)
        for step in plan.steps:
            if isinstance(step, str):
                emit(mask_tokens(step))
                continue
            record = pending.pop(0)
            err(f"+ {step.line()}")  # the script's `set -x` trace
            outcome = builder.run(step, record, emit)
            if not outcome.ok:
                for rest in pending:
                    rest.state, rest.finished_at = "skipped", time.time()
                    rest.error = f"not built: build {record.seq} ({record.role}) {record.state}"
                    self.store.finish(rest)
                err(f"servedeck dynamo build: {record.role} build {record.state}: {outcome.message}")
                if step.role == "local-dev":
                    emit("ERROR: Failed to build local_dev image")
                    return 1
                return outcome.status or 1
        if plan.failure:
            for line in plan.failure.stdout:
                emit(mask_tokens(line))
            return plan.failure.status
        return 0


class RunSession:
    """run.sh: the dry-run line, or the same container through the Docker SDK."""

    def __init__(self, settings, repo: Path | str | None = None):
        self.settings = settings
        self.repo = Path(repo or settings.repo or ".")

    def plan(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> RunPlan:
        return plan_run(argv, self.repo, env=env)

    def create(self, plan: RunPlan, environ: Mapping[str, str] | None = None) -> str:
        """Create (not start) the container: its HostConfig is the run.sh line's."""
        import docker

        kw = plan.create_kwargs(environ, caps=self.settings.run_ulimits)
        api = docker.APIClient(base_url=self.settings.url, timeout=self.settings.timeout)
        try:
            host = api.create_host_config(**kw["host"])
            created = api.create_container(host_config=host, **kw["container"])
            return str(created["Id"])
        finally:
            api.close()

    def run(self, argv: Sequence[str], emit: Emit = print, err: Emit = _stderr,
            env: Mapping[str, str] | None = None, wait: bool = True) -> int:
        import docker
        import docker.errors

        try:
            plan = self.plan(argv, env)
        except ScriptExit as exc:
            for line in exc.stdout:
                emit(line)
            if exc.stderr:
                err(exc.stderr)
            return exc.status
        if plan.dry_run:
            for line in plan.render():
                emit(line)
            return 0
        err(f"+ {plan.line()}")
        if plan.interactive and sys.stdin.isatty():  # -it: the terminal goes to the docker CLI, same words
            import subprocess

            from servedeck.backends.dynamo.builder import default_cli

            err("servedeck: -it on a terminal: running it with the docker CLI (interactive)")
            return subprocess.call([self.settings.docker_cli or default_cli(), "-H", self.settings.url, *plan.argv[1:]])
        if self.settings.run_ulimits:
            caps = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.run_ulimits.items()))
            err(f"servedeck: ulimits capped at {caps} (setting run_ulimits: this engine may not raise them)")
        err("servedeck: running it through the Docker Engine API (create, attach, start)")
        try:
            cid = self.create(plan, env)
        except docker.errors.APIError as exc:
            err(f"servedeck dynamo run: {explain_run_error(str(exc.explanation or exc))}")
            return 125
        except Exception as exc:
            err(f"servedeck dynamo run: Docker Engine at {self.settings.url}: {exc}")
            return 125
        return self._start(cid, plan, emit, err, wait)

    def _start(self, cid: str, plan: RunPlan, emit: Emit, err: Emit, wait: bool) -> int:
        import docker
        import docker.errors

        api = docker.APIClient(base_url=self.settings.url, timeout=None)
        began = int(time.time()) - 1
        try:
            stream = api.attach(cid, stream=True, logs=True) if wait else None
            try:
                api.start(cid)
            except docker.errors.APIError as exc:
                err(f"servedeck dynamo run: container {cid[:12]} created but not started: "
                    f"{explain_run_error(str(exc.explanation or exc))}")
                return 125
            if not wait:
                emit(cid)
                return 0
            pending = b""
            for chunk in stream:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    emit(line.decode("utf-8", errors="replace"))
            if pending:
                emit(pending.decode("utf-8", errors="replace"))
            return self._exit_code(api, cid, began)
        finally:
            api.close()

    @staticmethod
    def _exit_code(api, cid: str, since: int) -> int:
        import docker.errors

        try:
            return int(api.wait(cid, timeout=30).get("StatusCode", 1))
        except docker.errors.NotFound:  # --rm: the engine removed it; its `die` event has the code
            for event in api.events(since=since, until=int(time.time()) + 1, decode=True,
                                    filters={"container": cid, "event": "die"}):
                return int((event.get("Actor", {}).get("Attributes", {}) or {}).get("exitCode", 1))
        return 1


def explain_run_error(text: str) -> str:
    if "nvidia" in text and "runtime" in text.lower():
        return f"{text} (this engine has no nvidia runtime: install the NVIDIA Container Toolkit, or pass --runtime runc / --gpus none)"
    if "could not select device driver" in text:
        return f"{text} (GPUs were requested but this engine has no GPU driver: pass --gpus none)"
    return text


def environ_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
